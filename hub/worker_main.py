"""The RQ worker process: create the app state, preload language models, sweep, work with the scheduler."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis
from rq import Worker

from hub import inbox
from hub.redis_conn import redis_url
from hub.state import HubState

log = logging.getLogger("hub.worker")


def preload(state: HubState) -> None:
    """Load what every job needs once, before RQ forks work horses (jieba alone takes about a second)."""
    for loader in state.extras.get("preloaders", ()):
        loader()


def start_sweeper(state: HubState, sweep: Callable[[], object], stop: threading.Event) -> threading.Thread:
    """Every few seconds, enqueue messages that never reached the queue; one sweeper at a time cluster-wide."""

    def loop() -> None:
        while not stop.wait(state.config.sweep_interval_seconds):
            try:
                lock = state.redis.lock("hub:sweeper", timeout=state.config.sweep_interval_seconds * 4)
                if lock.acquire(blocking=False):
                    try:
                        sweep()
                    finally:
                        lock.release()
            except redis.RedisError as exc:
                log.warning("sweeper waits for Redis", extra={"error": str(exc)})
            except Exception:
                log.exception("sweep failed")

    thread = threading.Thread(target=loop, name="sweeper", daemon=True)
    thread.start()
    return thread


def run_worker(burst: bool = False, with_sweeper: bool = True) -> bool:
    from hub.app import create_app
    from hub.tasks import sweep

    app = create_app()
    state: HubState = app.extensions["hub"]
    preload(state)
    stop = threading.Event()
    # The worker blocks on BLPOP: its connections must not have the short socket time-out of the web's.
    connection = redis.Redis.from_url(redis_url(state.config), health_check_interval=30)
    if burst:
        inbox.drain(state)
    else:
        inbox.start_dispatcher(state, redis.Redis.from_url(redis_url(state.config)), stop)
        if with_sweeper:
            start_sweeper(state, sweep, stop)
    worker = Worker([state.queue.name], connection=connection)
    try:
        return worker.work(burst=burst, with_scheduler=True, logging_level=state.config.log_level)
    finally:
        stop.set()
