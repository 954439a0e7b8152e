"""The rollups' refresh: an RQ job, its clock, and the cheap refresh a dashboard page does when they are stale.

The clock is a thread of every worker process (started by `hub worker`, hub.cli.worker, beside the intake's
sweeper): every few seconds it offers to enqueue `refresh_rollups`; a Redis key set with NX and an expiry of
REFRESH_EVERY_SECONDS lets one offer per period through cluster-wide, and the job's fixed id keeps a slow refresh
from being queued twice. Without a worker (or while Redis is down), the dashboards refresh on their own when
their figures are older than STALE_SECONDS and little is pending (`refresh_if_stale`); otherwise they queue the job.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import redis
from sqlalchemy import text

from hub.core.queue import background_queue, enqueue
from hub.core.state import HubState, get_state
from hub.reports.rollups import Outcome, load_state, refresh

log = logging.getLogger("hub.reports")

REFRESH_KEY = "hub:reports:refresh"
REFRESH_EVERY_SECONDS = 60
CLOCK_SECONDS = 5
STALE_SECONDS = 300
INLINE_LIMIT = 200_000  # pending messages a page may aggregate itself; beyond, it queues the job


def refresh_rollups() -> str:
    """Bring the dashboards' rollups up to date (idempotent; a concurrent run changes nothing twice)."""
    state = get_state()
    outcome = refresh(state.engine, state.config.timezone)
    log.info("rollups refreshed", extra={"finalized": outcome.finalized, "provisional": outcome.provisional,
                                         "seconds": round(outcome.seconds, 3)})
    return str(outcome)


def schedule_refresh(state: HubState) -> bool:
    """Enqueue the refresh if REFRESH_EVERY_SECONDS have passed since the last offer anywhere; True if enqueued."""
    if not state.redis.set(REFRESH_KEY, "1", nx=True, ex=REFRESH_EVERY_SECONDS):
        return False
    return enqueue(background_queue(state.queue), refresh_rollups, timeout=1800, replace_dead=True)


def start_refresh_clock(state: HubState, stop: threading.Event) -> threading.Thread:
    """The worker's thread that offers the refresh job every few seconds (see the module's docstring)."""
    def loop() -> None:
        while not stop.wait(CLOCK_SECONDS):
            try:
                schedule_refresh(state)
            except redis.RedisError:
                pass  # the sweeper reports Redis outages; the dashboards refresh themselves meanwhile
            except Exception:
                log.exception("could not schedule the rollups' refresh")

    thread = threading.Thread(target=loop, name="reports-clock", daemon=True)
    thread.start()
    return thread


def refresh_if_stale(state: HubState) -> Outcome | None:
    """What a dashboard does before answering: refresh here when the rollups are older than STALE_SECONDS and
    little is pending; queue the job when much is. None when nothing was refreshed here."""
    st = load_state(state.engine)
    refreshed = st["refreshed_at"]
    if refreshed is not None:
        moment = refreshed if isinstance(refreshed, datetime) else datetime.fromisoformat(str(refreshed))
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if datetime.now(UTC) - moment < timedelta(seconds=STALE_SECONDS):
            return None
    with state.engine.connect() as conn:
        newest = conn.execute(text("SELECT MAX(id) FROM message")).scalar() or 0
    if newest - st["message_id"] > INLINE_LIMIT:
        try:
            schedule_refresh(state)
        except redis.RedisError:
            log.warning("the rollups are stale and Redis is down: the dashboards show older figures")
        return None
    return refresh(state.engine, state.config.timezone, snapshot=st["snapshot_at"] is None)
