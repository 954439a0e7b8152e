"""The workers' side of the inbox: move stored message ids from the Redis list into RQ jobs."""

from __future__ import annotations

import logging
import threading

import redis

from hub.conversation import enqueue_process
from hub.core.redis_conn import quick_retry, redis_url
from hub.core.state import HubState
from hub.intake.inbox import BATCH, INBOX_KEY, pusher
from hub.intake.journal import flush_all

log = logging.getLogger("hub.intake")


def dispatch_batch(state: HubState, connection: redis.Redis, block_seconds: float = 1.0) -> int:
    """Move up to BATCH ids from the inbox into RQ; wait up to `block_seconds` for the first one."""
    first = connection.blpop([INBOX_KEY], timeout=block_seconds) if block_seconds else connection.lpop(INBOX_KEY)
    if not first:
        return 0
    raw = [first[1] if isinstance(first, tuple | list) else first]
    raw += connection.lpop(INBOX_KEY, BATCH - 1) or []
    for value in raw:
        enqueue_process(int(value))
    return len(raw)


def drain(state: HubState) -> int:
    """Dispatch everything waiting now (tests and `hub worker --burst`), after this process's own intake
    journal is loaded and its pushes made."""
    flush_all(state)
    pusher(state).flush()
    total = 0
    while moved := dispatch_batch(state, state.redis, block_seconds=0):
        total += moved
    return total


def start_dispatcher(state: HubState, stop: threading.Event) -> threading.Thread:
    """Move the inbox into RQ until `stop`; after a Redis error, try again every second.

    Its connection has a socket time-out a little longer than the BLPOP's wait, so that a server that vanished
    without closing the connection (a network partition, a killed VM) is noticed in seconds, not never.
    """
    block = 1.0
    connection = redis.Redis.from_url(redis_url(state.config), socket_timeout=block + 4, socket_connect_timeout=2,
                                      health_check_interval=30, retry=quick_retry())

    def loop() -> None:
        waiting = False
        while not stop.is_set():
            try:
                dispatch_batch(state, connection, block)
                if waiting:
                    log.info("dispatcher reconnected to Redis")
                waiting = False
            except redis.RedisError as exc:
                if not waiting:
                    log.warning("dispatcher waits for Redis", extra={"error": str(exc)})
                waiting = True
                stop.wait(1.0)
            except Exception:
                log.exception("dispatching failed")
                stop.wait(1.0)

    thread = threading.Thread(target=loop, name="inbox-dispatcher", daemon=True)
    thread.start()
    return thread
