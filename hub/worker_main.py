"""The RQ worker process: create the app state, preload language models, sweep, work with the scheduler.

The process outlives Redis outages and restarts: it retries Redis every second (RQ backs off to a minute),
keeps its scheduler alive (RQ's scheduler process exits on the first Redis error and `Worker.work` starts it
again only in its maintenance tasks, every ten minutes), and starts its work loop again if RQ leaves it on
an error. The sweeper re-enqueues from the database what a Redis that lost its data no longer holds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from uuid import uuid4

import redis
from rq import Worker
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.exceptions import StopRequested
from rq.scheduler import RQScheduler

from hub import inbox
from hub.redis_conn import keep_embedded_redis, quick_retry, redis_url
from hub.state import HubState

log = logging.getLogger("hub.worker")
RECONNECT_SECONDS = 1.0  # how often a process waiting for Redis tries again
SCHEDULER_CHECK_SECONDS = 1.0  # how soon a dead scheduler process is started again


def preload(state: HubState) -> None:
    """Load what every job needs once, before RQ forks work horses (jieba alone takes about a second)."""
    for loader in state.extras.get("preloaders", ()):
        loader()


class HubScheduler(RQScheduler):
    """RQ's scheduler (it moves due retries into the queue), made to wait out Redis errors instead of exiting,
    and to stop when the worker that started it is gone (that worker's successor starts its own)."""

    _parent_pid: int | None = None

    def start(self):  # type: ignore[no-untyped-def]
        self._parent_pid = os.getpid()
        return super().start()

    def _orphaned(self) -> bool:
        if self._parent_pid is not None and os.getppid() != self._parent_pid:
            self.log.warning("Scheduler: its worker is gone, stopping")
            self._stop_requested = True
        return self._stop_requested

    def enqueue_scheduled_jobs(self) -> None:
        if not self._orphaned():
            super().enqueue_scheduled_jobs()

    def work(self) -> None:
        while True:
            try:
                super().work()
                return
            except redis.RedisError as exc:
                if self._orphaned():
                    return
                self.log.warning("Scheduler waits for Redis: %s", exc)
                self._scheduled_job_registries = []
                time.sleep(RECONNECT_SECONDS)


class HubWorker(Worker):
    """RQ's forking worker with a one-second reconnect and a scheduler that is restarted within a second."""

    max_connection_wait_time = RECONNECT_SECONDS
    scheduler_name: str | None = None  # stable across restarts of the work loop: the lock stays ours

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
    ) -> None:
        self.scheduler = HubScheduler(
            self.queues, connection=self.connection, name=self.scheduler_name,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format, log_format=log_format, serializer=self.serializer,
        )
        if burst:  # enqueue what is due once, in this process, as RQ does
            self.scheduler.acquire_locks()
            if self.scheduler.acquired_locks:
                try:
                    self.scheduler.register_birth()
                    self.scheduler.enqueue_scheduled_jobs()
                finally:
                    self.scheduler.release_locks()
                    self.scheduler.register_death()
            return
        self._supervisor_stop = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise_scheduler, name="scheduler-supervisor",
                                            daemon=True)
        self._supervisor.start()

    def _supervise_scheduler(self) -> None:
        """Start the scheduler process whenever none runs and this worker can take the queue's scheduler lock
        (another worker's scheduler may hold it; when that one dies, its lock expires and this one takes over)."""
        while not self._supervisor_stop.is_set():
            scheduler = self.scheduler
            process = scheduler._process if scheduler else None
            if scheduler is not None and not self._stop_requested and (process is None or not process.is_alive()):
                try:
                    scheduler.acquire_locks(auto_start=True)
                except redis.RedisError as exc:
                    log.debug("scheduler waits for Redis", extra={"error": str(exc)})
                except Exception:
                    log.exception("starting the scheduler failed")
            self._supervisor_stop.wait(SCHEDULER_CHECK_SECONDS)

    def run_maintenance_tasks(self) -> None:
        # RQ also restarts a dead scheduler here, every ten minutes; the supervisor does it within a second.
        self.clean_registries()
        self.clean_group_registries()

    def teardown(self) -> None:
        supervisor_stop = getattr(self, "_supervisor_stop", None)
        if supervisor_stop is not None:
            supervisor_stop.set()
            self._supervisor.join(timeout=5)
        super().teardown()


def start_sweeper(state: HubState, sweep: Callable[..., object], stop: threading.Event) -> threading.Thread:
    """Every few seconds, enqueue messages that never reached the queue; one sweeper at a time cluster-wide.

    Every second it looks at Redis: while Redis is unreachable it keeps trying, and the first sweep after an
    outage, or as soon as Redis answers without its data (hub.tasks.redis_epoch), comes at once and takes
    every waiting message, without the grace period.
    """
    from hub.tasks import redis_epoch

    def loop() -> None:
        known_epoch: str | None = None
        outage = False
        next_sweep = time.monotonic() + state.config.sweep_interval_seconds
        while not stop.wait(RECONNECT_SECONDS):
            try:
                epoch = redis_epoch(state.redis)
                lost = known_epoch is not None and epoch != known_epoch
                if lost:
                    log.warning("Redis came back without its data: re-enqueueing every waiting message")
                if not (lost or outage or time.monotonic() >= next_sweep):
                    continue
                lock = state.redis.lock("hub:sweeper", timeout=max(state.config.sweep_interval_seconds * 4, 10))
                if lock.acquire(blocking=False):
                    try:
                        sweep(grace_seconds=0 if (lost or outage) else None)
                    finally:
                        lock.release()
                known_epoch, outage = epoch, False
                next_sweep = time.monotonic() + state.config.sweep_interval_seconds
            except redis.RedisError as exc:
                if not outage:
                    log.warning("sweeper waits for Redis", extra={"error": str(exc)})
                outage = True
            except Exception:
                log.exception("sweep failed")
                next_sweep = time.monotonic() + state.config.sweep_interval_seconds

    thread = threading.Thread(target=loop, name="sweeper", daemon=True)
    thread.start()
    return thread


def run_worker(burst: bool = False, with_sweeper: bool = True) -> bool:
    from hub.app import create_app
    from hub.tasks import sweep

    app = create_app()
    state: HubState = app.extensions["hub"]
    stop = threading.Event()
    if not state.config.redis_url:
        keep_embedded_redis(state.config.instance_path, stop)  # restarted within a second if it dies
    preload(state)
    # The worker blocks on BLPOP: its connections must not have the short socket time-out of the web's.
    connection = redis.Redis.from_url(redis_url(state.config), health_check_interval=30, retry=quick_retry())
    if burst:
        inbox.drain(state)
    else:
        inbox.start_dispatcher(state, stop)
        if with_sweeper:
            start_sweeper(state, sweep, stop)
    scheduler_name = uuid4().hex
    try:
        while True:
            worker: HubWorker | None = None
            try:
                worker = HubWorker([state.queue.name], connection=connection)
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
