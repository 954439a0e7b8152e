"""The one place that knows RQ options: deterministic job ids, retries, time-outs, TTLs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry

from hub.core.models import as_utc

log = logging.getLogger("hub.core.queue")

# A job in one of these states will still run: enqueueing it again would only duplicate work.
_LIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def background_queue(queue: Queue) -> Queue:
    """The queue of work that may wait (the dashboards' rollups): every worker listens to it after the main
    queue, so fans' messages and routing never wait behind it."""
    return Queue(f"{queue.name}-background", connection=queue.connection)


def job_id_for(func: Callable[..., Any], *ids: int | str) -> str:
    return "-".join([func.__name__, *map(str, ids)])  # RQ allows letters, digits, "_" and "-"


def enqueue(
    queue: Queue,
    func: Callable[..., Any],
    *args: Any,
    retry_intervals: Sequence[int] = (),
    timeout: int = 120,
    replace_dead: bool = False,
) -> bool:
    """Enqueue `func(*args)` under a deterministic job id. True when the job is (already) queued.

    False when Redis is unreachable: the caller's data is in the database and the sweeper will
    enqueue it later. With `replace_dead`, a finished or failed job of the same id is replaced.
    """
    job_id = job_id_for(func, *args)
    retry = Retry(max=len(retry_intervals), interval=list(retry_intervals)) if retry_intervals else None
    try:
        if replace_dead and not _replace_if_dead(queue, job_id):
            return True
        queue.enqueue_call(
            func,
            args=args,
            job_id=job_id,
            unique=True,
            retry=retry,
            timeout=timeout,
            result_ttl=300,
            failure_ttl=7 * 24 * 3600,
        )
        return True
    except DuplicateJobError:
        return True
    except redis.RedisError as exc:
        log.warning("enqueue failed, left for the sweeper", extra={"job_id": job_id, "error": str(exc)})
        return False


# A scheduled retry this late means no scheduler is moving it into the queue (RQ's moves due jobs every second).
SCHEDULER_OVERDUE_SECONDS = 15
# A started job without a heartbeat for this long lost its worker (RQ's heartbeats come every ~30 s, TTL +60 s).
STARTED_SILENT_SECONDS = 120


def _replace_if_dead(queue: Queue, job_id: str) -> bool:
    """Delete a job that will not run again; False when it is still live (leave it alone).

    A job's status alone is not enough after Redis lost part of its data or a process died: a queued job
    must still be in its queue, a scheduled one in the scheduled registry and not long overdue, a started
    one must have a recent heartbeat. Jobs are idempotent, so replacing a live one only costs a skip.
    """
    try:
        job = Job.fetch(job_id, connection=queue.connection)
    except NoSuchJobError:
        return True
    status = job.get_status(refresh=False)
    if status in _LIVE and _really_live(queue, job, status):
        return False
    job.delete()
    return True


# What a message's run is doing, as far as Redis knows (see `run_state`).
RUNNING, ENDED, MISSING = "running", "ended", "missing"


def run_state(queue: Queue, job_id: str) -> str:
    """Whether the run of a job that claimed a message is still under way.

    RUNNING: started, its worker heart-beating. ENDED: anything else (failed, finished, its work horse killed so
    RQ moved it on, waiting for or queued for another run): the run that claimed the message is over. MISSING:
    Redis has no such job (lost with Redis's data, or expired): its run may still be under way (a horse keeps
    running when Redis forgets its job), so only the time since the claim can tell.
    """
    try:
        job = Job.fetch(job_id, connection=queue.connection)
    except NoSuchJobError:
        return MISSING
    status = job.get_status(refresh=False)
    return RUNNING if status == JobStatus.STARTED and _really_live(queue, job, status) else ENDED


# Only a job still scheduled (the scheduler may have taken it meanwhile) and still stored: due now, and put at
# the front of the queue by RQ's scheduler (it reads the job's enqueue_at_front).
_RUN_NOW = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('EXISTS', KEYS[2]) == 1 then
    redis.call('HSET', KEYS[2], 'enqueue_at_front', 1)
    redis.call('ZADD', KEYS[1], 'XX', ARGV[2], ARGV[1])
end
return 0
"""


def run_scheduled_now(queue: Queue, job_ids: Sequence[str], limit: int) -> int:
    """Make at most `limit` of these jobs, those waiting in the scheduled registry for a later time (a retry's
    back-off), due now: RQ's scheduler moves them into the queue within a second, at its front (they have
    waited longest). Returns how many."""
    if not job_ids or limit <= 0:
        return 0
    key = ScheduledJobRegistry(queue=queue).key
    now = int(time.time())
    with queue.connection.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.zscore(key, job_id)
        scores = pipe.execute()
    later = [job_id for job_id, due in zip(job_ids, scores, strict=True) if due is not None and due > now][:limit]
    if later:
        run_now = queue.connection.register_script(_RUN_NOW)
        with queue.connection.pipeline() as pipe:
            for job_id in later:
                run_now(keys=[key, Job.key_for(job_id)], args=[job_id, now], client=pipe)
            pipe.execute()
    return len(later)


def _really_live(queue: Queue, job: Job, status: JobStatus | None) -> bool:
    connection = queue.connection
    if status == JobStatus.QUEUED:
        return any(connection.lpos(key, job.id) is not None for key in (queue.key, queue.intermediate_queue_key))
    if status == JobStatus.SCHEDULED:
        due = connection.zscore(ScheduledJobRegistry(queue=queue).key, job.id)
        return due is not None and due > time.time() - SCHEDULER_OVERDUE_SECONDS
    if status == JobStatus.STARTED:
        beat = job.last_heartbeat or job.started_at
        return beat is None or (datetime.now(UTC) - as_utc(beat)).total_seconds() < STARTED_SILENT_SECONDS
    return True

