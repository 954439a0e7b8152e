-- wrk script for bench/webhook_load.py: signed plaintext-mode WeChat text messages, a unique MsgId each, each
-- under its own signed query string, as WeChat pushes them.
--
--   wrk -t2 -c32 -d20s --latency -s bench/webhook_load.lua URL \
--       -- PREFIX WEBHOOK QUERIES PER_THREAD TIMESTAMP REPLY_EVERY
--
-- In plaintext mode WeChat signs only token, timestamp and nonce (sha1, not the body), and the hub refuses a
-- second body under a (timestamp, nonce) it has seen, so every request needs its own signed pair. wrk's Lua
-- has no sha1: bench/load/wire.py (WrkQueries) signs them before the run, one query string a line, all of
-- the same length, in the file QUERIES: thread t (1-based, as setup() numbers them) owns the block of
-- PER_THREAD lines from line (t-1)*PER_THREAD + 1. init() opens the file and seeks to the thread's block;
-- request() reads the next line (buffered: no system call per request) and posts to WEBHOOK?<line>.
-- TIMESTAMP, the one the queries were signed with, is also each message's CreateTime, so that
-- bench/load/wire.py can rebuild any request byte for byte (a redelivery is a retry of it, not a replay).
-- A thread that runs out of lines stops and counts it in "exhausted": webhook_load.py then fails the run
-- (raise --wrk-max-rate) rather than let a query carry a second body.
-- MsgId = PREFIX .. thread id (2 digits) .. per-thread counter (9 digits): unique across threads, and across
-- runs via PREFIX. Every REPLY_EVERY-th message is a keyword (价格 / 营业时间) that gets a passive reply.
-- done() prints one line "WRK_JSON {...}" with the request and response counts and the latency figures.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("id", #threads)
end

local prefix, webhook, queries, per_thread, timestamp, reply_every
local keywords = { "价格", "营业时间" }
-- Counters are globals so that done() can read them through thread:get().
sent, ok, non2xx, passive, exhausted = 0, 0, 0, 0, 0

function init(args)
   prefix = args[1]
   webhook = args[2]
   per_thread = tonumber(args[4])
   timestamp = args[5]
   reply_every = tonumber(args[6]) or 4
   queries = assert(io.open(args[3], "rb"))
   local first = assert(queries:read("*l"), "empty queries file")
   assert(queries:seek("set", (id - 1) * per_thread * (#first + 1)))
   wrk.headers["Content-Type"] = "text/xml; charset=utf-8"
end

function request()
   sent = sent + 1
   local query = sent <= per_thread and queries:read("*l")
   if not query then
      exhausted = exhausted + 1
      wrk.thread:stop()
      return wrk.format("GET", "/healthz")
   end
   local msgid = string.format("%s%02d%09d", prefix, id, sent)
   local fan = string.format("o-bench-%02d-%03d", id, sent % 500)
   local text
   if sent % reply_every == 0 then
      text = keywords[(sent / reply_every) % 2 + 1]
   else
      text = "hello from fan " .. fan .. " #" .. sent
   end
   local body = "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName>"
      .. "<FromUserName><![CDATA[" .. fan .. "]]></FromUserName>"
      .. "<CreateTime>" .. timestamp .. "</CreateTime>"
      .. "<MsgType><![CDATA[text]]></MsgType>"
      .. "<Content><![CDATA[" .. text .. "]]></Content>"
      .. "<MsgId>" .. msgid .. "</MsgId></xml>"
   return wrk.format("POST", webhook .. "?" .. query, nil, body)
end

function response(status, headers, body)
   if status >= 200 and status < 300 then
      ok = ok + 1
      if string.sub(body, 1, 4) == "<xml" then
         passive = passive + 1
      end
   else
      non2xx = non2xx + 1
   end
end

function done(summary, latency, requests)
   local t_sent, t_ok, t_non2xx, t_passive, t_exhausted = 0, 0, 0, 0, 0
   local per_thread_sent = {}
   for _, thread in ipairs(threads) do
      local s = thread:get("sent")
      t_sent = t_sent + s
      t_ok = t_ok + thread:get("ok")
      t_non2xx = t_non2xx + thread:get("non2xx")
      t_passive = t_passive + thread:get("passive")
      t_exhausted = t_exhausted + thread:get("exhausted")
      table.insert(per_thread_sent, string.format("[%d,%d]", thread:get("id"), s))
   end
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"sent":%d,"ok":%d,"non2xx":%d,"passive":%d,"exhausted":%d,"requests":%d,"duration_us":%d,'
         .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,'
         .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"threads":[%s]}\n',
      t_sent, t_ok, t_non2xx, t_passive, t_exhausted, summary.requests, summary.duration,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
      e.connect, e.read, e.write, e.status, e.timeout, table.concat(per_thread_sent, ",")))
end
