-- wrk script for bench/webhook_load.py: signed plaintext-mode WeChat text messages, a unique MsgId each.
--
--   wrk -t2 -c32 -d20s --latency -s bench/webhook_load.lua URL -- PREFIX PATH_WITH_SIGNED_QUERY REPLY_EVERY
--
-- In plaintext mode the signature (sha1 of sorted token, timestamp, nonce) does not cover the body, so
-- one signed query string serves every request and only the body changes. MsgId = PREFIX .. thread id
-- (2 digits) .. per-thread counter (9 digits): unique across threads, and across runs via PREFIX.
-- Every REPLY_EVERY-th message is a keyword (价格 / 营业时间) that the hub answers with a passive reply.
-- done() prints one line "WRK_JSON {...}" with the request and response counts and the latency figures.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("id", #threads)
end

local prefix, path, reply_every
local keywords = { "价格", "营业时间" }
-- Counters are globals so that done() can read them through thread:get().
sent, ok, non2xx, passive = 0, 0, 0, 0

function init(args)
   prefix = args[1]
   path = args[2]
   reply_every = tonumber(args[3]) or 4
   wrk.headers["Content-Type"] = "text/xml; charset=utf-8"
end

function request()
   sent = sent + 1
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
      .. "<CreateTime>" .. os.time() .. "</CreateTime>"
      .. "<MsgType><![CDATA[text]]></MsgType>"
      .. "<Content><![CDATA[" .. text .. "]]></Content>"
      .. "<MsgId>" .. msgid .. "</MsgId></xml>"
   return wrk.format("POST", path, nil, body)
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
   local t_sent, t_ok, t_non2xx, t_passive = 0, 0, 0, 0
   local per_thread = {}
   for _, thread in ipairs(threads) do
      local s = thread:get("sent")
      t_sent = t_sent + s
      t_ok = t_ok + thread:get("ok")
      t_non2xx = t_non2xx + thread:get("non2xx")
      t_passive = t_passive + thread:get("passive")
      table.insert(per_thread, string.format("[%d,%d]", thread:get("id"), s))
   end
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"sent":%d,"ok":%d,"non2xx":%d,"passive":%d,"requests":%d,"duration_us":%d,'
         .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,'
         .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"threads":[%s]}\n',
      t_sent, t_ok, t_non2xx, t_passive, summary.requests, summary.duration,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
      e.connect, e.read, e.write, e.status, e.timeout, table.concat(per_thread, ",")))
end
