"""The one place that knows RQ options: deterministic job ids, retries, time-outs, TTLs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

log = logging.getLogger("hub.queue")

# A job in one of these states will still run: enqueueing it again would only duplicate work.
_LIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


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


def _replace_if_dead(queue: Queue, job_id: str) -> bool:
    """Delete a job that will not run again; False when it is still live (leave it alone)."""
    try:
        job = Job.fetch(job_id, connection=queue.connection)
    except NoSuchJobError:
        return True
    status = job.get_status(refresh=False)
    if status in _LIVE:
        return False
    job.delete()
    return True
