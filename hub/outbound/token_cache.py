"""Channel access tokens shared by every process through Redis, refreshed under a Redis lock."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import redis

_PREFIX = "hub:token:"


class RedisTokenCache:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def get(self, key: str) -> str | None:
        value = self._redis.get(_PREFIX + key)
        return value.decode() if isinstance(value, bytes) else value

    def set(self, key: str, value: str, ttl_seconds: int) -> None:
        self._redis.set(_PREFIX + key, value, ex=max(1, ttl_seconds))

    def delete(self, key: str) -> None:
        self._redis.delete(_PREFIX + key)

    def lock(self, key: str, timeout_seconds: float) -> AbstractContextManager[Any]:
        # blocking_timeout: a process waiting for another's refresh gives up rather than hang a job forever.
        name = _PREFIX + "lock:" + key
        return self._redis.lock(name, timeout=timeout_seconds, blocking_timeout=timeout_seconds)
