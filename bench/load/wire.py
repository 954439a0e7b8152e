"""The WeChat wire: a plaintext-mode account's signed query strings and the text messages the load sends.

WeChat signs every push with its own (timestamp, nonce) — sha1 of the sorted token, timestamp and nonce — and a
retry of a push carries the same query string and the same body. The hub remembers each plaintext message's
(timestamp, nonce) with a digest of its body and refuses another body under it (channels/wechat/webhook.py), so
the load does the same: a fresh signed query per message, and the very same query and body for each copy of it.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import secrets
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

KEY, TOKEN, APP_ID, APP_SECRET = "bench", "bench-token", "wxbench", "bench-secret"
KEYWORDS = {"价格": "价格表：基础款 99 元，专业款 199 元。", "营业时间": "客服在线时间：每天 9:00–21:00。"}
WEBHOOK = f"/webhooks/wechat/{KEY}"
REPLAY_WINDOW_SECONDS = 300  # the hub's (WebhookSettings.replay_window_seconds) and the bare app's
NONCE_DIGITS = 12

# Nonces of this process: a random start (other runs against the same Redis) and a counter, so two messages of
# a run never share a (timestamp, nonce) however many are signed in one second.
_nonces = itertools.count(secrets.randbelow(10**NONCE_DIGITS // 2))


def new_nonce() -> str:
    return f"{next(_nonces) % 10**NONCE_DIGITS:0{NONCE_DIGITS}d}"


def signature(timestamp: str, nonce: str, token: str = TOKEN) -> str:
    return hashlib.sha1("".join(sorted((token, timestamp, nonce))).encode()).hexdigest()  # noqa: S324


def signed_query(token: str = TOKEN, timestamp: int | None = None, nonce: str | None = None) -> str:
    """One push's query string: `timestamp` (now by default) and `nonce` (a fresh one by default), signed."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = new_nonce() if nonce is None else nonce
    return f"signature={signature(ts, nonce, token)}&timestamp={ts}&nonce={nonce}"


def webhook_path(query: str | None = None) -> str:
    """The account's webhook with `query`, or a freshly signed one: ONE message's path (its retries reuse it);
    in plaintext mode the signature does not cover the body, the hub's replay memory ties the pair to it."""
    return f"{WEBHOOK}?{query or signed_query()}"


def keyword(n: int) -> str:
    """The keywords take turns: 价格, 营业时间, 价格..."""
    return list(KEYWORDS)[n % 2]


def message_xml(fan: str, text: str, msgid: str, create_time: int | None = None) -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[{fan}]]></FromUserName>"
        f"<CreateTime>{int(time.time()) if create_time is None else create_time}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{text}]]></Content><MsgId>{msgid}</MsgId></xml>"
    ).encode()


# -- wrk's pre-signed queries -------------------------------------------------------------------------------


class WrkQueries:
    """The query strings of one wrk run, signed before it starts, one line each in a file that
    bench/webhook_load.lua reads: thread t (1-based) takes the block of lines (t-1)*per_thread + 1 ...
    t*per_thread, its n-th request() the n-th line of its block. Every line has the same length (the script
    seeks to its block) and the same timestamp, the time they were signed: a run must end within the replay
    window. The n-th nonce of the run is `nonce_base + n`, so the query of any request can be signed again
    (the redelivery of what wrk cut off carries the query wrk sent it with) without keeping the lines."""

    def __init__(self, threads: int, per_thread: int, timestamp: int | None = None) -> None:
        self.threads, self.per_thread = threads, per_thread
        self.timestamp = int(time.time()) if timestamp is None else timestamp
        self.nonce_base = secrets.randbelow(10**NONCE_DIGITS // 2)

    @classmethod
    def for_run(cls, threads: int, duration: float, max_rate: float, connections: int) -> WrkQueries:
        """Enough lines for `duration` s at up to `max_rate` msg/s over all threads, a second's margin and a
        connection's worth each: sized for the fastest thread alone (connections land unevenly)."""
        if duration > REPLAY_WINDOW_SECONDS - 60:
            raise ValueError(f"a wrk run of {duration:.0f} s would outlive its queries' timestamp: the replay "
                             f"window is {REPLAY_WINDOW_SECONDS} s")
        per_thread = math.ceil(max_rate * (duration + 1) / max(1, threads) * 1.5) + connections + 1
        return cls(threads, per_thread)

    def nonce(self, thread_id: int, n: int) -> str:
        if not 1 <= n <= self.per_thread or not 1 <= thread_id <= self.threads:
            raise IndexError(f"request {n} of wrk thread {thread_id} is not in the queries file")
        index = (thread_id - 1) * self.per_thread + n
        return f"{(self.nonce_base + index) % 10**NONCE_DIGITS:0{NONCE_DIGITS}d}"

    def query(self, thread_id: int, n: int) -> str:
        """The query string of thread `thread_id`'s n-th request."""
        return signed_query(timestamp=self.timestamp, nonce=self.nonce(thread_id, n))

    def write(self, path: Path) -> Path:
        """The file, one fixed-width line per request: thread 1's block, then thread 2's..."""
        with open(path, "w", encoding="ascii", newline="\n") as out:
            for thread_id in range(1, self.threads + 1):
                out.writelines(self.query(thread_id, n) + "\n" for n in range(1, self.per_thread + 1))
        return path

    def describe(self) -> dict[str, int]:
        """What wrk_message() needs to rebuild a request (kept in the run's result, a few numbers)."""
        return {"timestamp": self.timestamp, "nonce_base": self.nonce_base, "threads": self.threads,
                "per_thread": self.per_thread}

    @classmethod
    def of(cls, described: dict[str, int]) -> WrkQueries:
        queries = cls(described["threads"], described["per_thread"], described["timestamp"])
        queries.nonce_base = described["nonce_base"]
        return queries


def wrk_msgid(prefix: str, thread_id: int, n: int) -> str:
    return f"{prefix}{thread_id:02d}{n:09d}"


def wrk_msgids(wrk: dict[str, Any]) -> Iterable[str]:
    """Every MsgId a wrk run sent (its result's per-thread request counts)."""
    for thread_id, count in wrk["threads"]:
        for n in range(1, count + 1):
            yield wrk_msgid(wrk["prefix"], thread_id, n)


def wrk_message(wrk: dict[str, Any], thread_id: int, n: int, reply_every: int) -> tuple[str, str, bytes]:
    """The message wrk's thread `thread_id` sent as its n-th request (the same as bench/webhook_load.lua): its
    MsgId, its path with the query string wrk sent it under, and its body, byte for byte (CreateTime is the
    queries' timestamp), so that a redelivery is a retry of it and not a replay."""
    queries = WrkQueries.of(wrk["queries"])
    msgid = wrk_msgid(wrk["prefix"], thread_id, n)
    fan = f"o-bench-{thread_id:02d}-{n % 500:03d}"
    text = keyword(n // reply_every) if n % reply_every == 0 else f"hello from fan {fan} #{n}"
    return msgid, webhook_path(queries.query(thread_id, n)), message_xml(fan, text, msgid, queries.timestamp)


def reply_content(body: bytes) -> bytes:
    """A passive reply without its CreateTime: copies answered in different seconds differ only there."""
    return re.sub(rb"<CreateTime>\d+</CreateTime>", b"", body)
