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
"""

from __future__ import annotations

import logging
import threading
import time

import redis

log = logging.getLogger("hub.intake.webhooks")

PREFIX = "hub:replay:"
PAUSE_SECONDS = 5.0


class RedisReplayMemory:
    """channels.base.ReplayMemory backed by Redis; keys are "hub:replay:<channel>:<account>:…"."""

    def __init__(self, client: redis.Redis, pause_seconds: float = PAUSE_SECONDS) -> None:
        self._redis = client
        self._pause_seconds = pause_seconds
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def remember(self, key: str, value: str, ttl_seconds: int) -> str | None:
        if self._paused_until and time.monotonic() < self._paused_until:
            return None
        name = PREFIX + key
        try:
            if self._redis.set(name, value, nx=True, ex=max(1, ttl_seconds)):
                return None
            seen = self._redis.get(name)
        except redis.RedisError as exc:
            self._pause(exc)
            return None
        self._paused_until = 0.0
        if seen is None:  # expired between the two commands: nothing to compare with
            return None
        return seen.decode() if isinstance(seen, bytes) else str(seen)

    def _pause(self, exc: Exception) -> None:
        with self._lock:
            if time.monotonic() < self._paused_until:  # another thread logged this outage already
                return
            self._paused_until = time.monotonic() + self._pause_seconds
        log.warning(
            "replay memory unavailable: plaintext webhook messages are accepted without the replay check "
            "for the next %.0f s", self._pause_seconds, extra={"error": str(exc)},
        )
