"""The worker process (`hub worker`): the app state, the language models loaded before RQ forks, the inbox
dispatcher and the sweeper threads, and RQ's worker with its scheduler, started again whenever RQ leaves its
work loop on a Redis error, so the process outlives Redis outages and restarts."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from uuid import uuid4

import redis
from rq.exceptions import StopRequested

from hub.app import create_app
from hub.conversation import preload_for_worker
from hub.core.queue import background_queue
from hub.core.redis_conn import keep_embedded_redis, quick_retry, redis_url
from hub.core.state import HubState
from hub.core.workers import RECONNECT_SECONDS, HubInProcessWorker, HubWorker
from hub.intake import drain, start_dispatcher, start_sweeper, sweep
from hub.reports import start_refresh_clock

log = logging.getLogger("hub.worker")


def run_worker(burst: bool = False, with_sweeper: bool = True, fork: bool | None = None) -> bool:
    app = create_app()
    state: HubState = app.extensions["hub"]
    worker_class = HubWorker if (state.config.worker_fork if fork is None else fork) else HubInProcessWorker
    stop = threading.Event()
    if not state.config.redis_url:
        keep_embedded_redis(state.config.instance_path, stop)  # restarted within a second if it dies
    preload_for_worker(state)
    # The worker blocks on BLPOP: its connections must not have the short socket time-out of the web's.
    connection = redis.Redis.from_url(redis_url(state.config), health_check_interval=30, retry=quick_retry())
    if burst:
        drain(state)
    else:
        start_dispatcher(state, stop)
        if with_sweeper:
            start_sweeper(state, sweep, stop)
            start_refresh_clock(state, stop)  # the dashboards' rollups (hub.reports.jobs)
    scheduler_name = uuid4().hex
    try:
        while True:
            worker: HubWorker | None = None
            try:
                # The main queue first: RQ takes a job of the background queue only when the main one is empty.
                worker = worker_class([state.queue.name, background_queue(state.queue).name], connection=connection)
                worker.scheduler_name = scheduler_name
                worked = worker.work(burst=burst, with_scheduler=True, logging_level=state.config.log_level)
            except redis.RedisError as exc:  # raised while starting or tearing down, outside RQ's loop
                worked = False
                log.warning("worker waits for Redis", extra={"error": str(exc)})
                if worker is not None:
                    with contextlib.suppress(redis.RedisError):
                        worker.unsubscribe()
            stopping = worker is not None and (worker._stop_requested or worker._shutdown_requested_date is not None)
            if burst or stopping:
                return worked
            log.warning("the work loop ended; starting it again")  # RQ leaves it on a Redis error
            time.sleep(RECONNECT_SECONDS)
    except StopRequested:  # a signal between two runs of the loop
        return False
    finally:
        stop.set()
