"""The RQ worker classes the hub runs: RQ's, made to outlive Redis outages and restarts and to stop promptly.

RQ's scheduler process exits on the first Redis error and `Worker.work` starts it again only in its
maintenance tasks, every ten minutes; its worker backs off to a minute between reconnects; its command
listener blocks a minute per read. Here: one-second reconnects, a scheduler restarted within a second,
commands read every second.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import redis
from rq import SimpleWorker, Worker
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.scheduler import RQScheduler

log = logging.getLogger("hub.worker")
RECONNECT_SECONDS = 1.0  # how often a process waiting for Redis tries again
SCHEDULER_CHECK_SECONDS = 1.0  # how soon a dead scheduler process is started again


class _PromptCommands:
    """RQ listens for commands (stop a job, shut down) on a pub/sub thread that blocks up to 60 s per read,
    and redis-py 8.2 waits for that thread when the worker stops: every worker, burst runs included, took up
    to a minute to exit. A one-second read keeps commands prompt and stopping quick."""

    COMMAND_POLL_SECONDS = 1.0

    def subscribe(self) -> None:
        worker: Any = self
        worker.pubsub = worker.connection.pubsub()
        worker.pubsub.subscribe(**{worker.pubsub_channel_name: worker.handle_payload})
        worker.pubsub_thread = worker.pubsub.run_in_thread(
            sleep_time=self.COMMAND_POLL_SECONDS, daemon=True, exception_handler=worker._pubsub_exception_handler
        )


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


class HubWorker(_PromptCommands, Worker):
    """RQ's forking worker (`hub worker`) with a one-second reconnect, prompt commands, and a scheduler that is
    restarted within a second."""

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


class HubInProcessWorker(HubWorker):
    """`hub worker --no-fork`: HubWorker running each job in the worker process itself, as RQ's SimpleWorker does.
    Short jobs (routing a ticket, sending a reply) then cost their work, not a fork, a new database connection
    and cold compiled statements each. A job that hangs is still stopped by its time-out (a signal in the main
    thread); a job that kills the process takes the worker with it, and its message is recovered as after a
    killed work horse (the sweeper's reaper)."""

    execute_job = SimpleWorker.execute_job
    get_heartbeat_ttl = SimpleWorker.get_heartbeat_ttl


class HubSimpleWorker(_PromptCommands, SimpleWorker):
    """Runs jobs in its own process, without forking (the tests)."""
