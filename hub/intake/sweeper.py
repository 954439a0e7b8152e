"""The sweeper thread of every worker process: runs `hub.intake.jobs.sweep` every few seconds, at once after
a Redis outage or when Redis came back without its data; one sweeper at a time cluster-wide. It is also the
clock of the tickets: every second it offers to enqueue their periodic tick (hub.tickets.jobs.schedule_tick:
SLA, escalation, presence fade, auto-close), which a Redis key lets through once per tickets_tick_seconds."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis

from hub.core.redis_conn import redis_epoch
from hub.core.state import HubState
from hub.core.workers import RECONNECT_SECONDS
from hub.tickets.jobs import schedule_tick

log = logging.getLogger("hub.intake")


def start_sweeper(state: HubState, sweep: Callable[..., object], stop: threading.Event) -> threading.Thread:
    """Every few seconds, enqueue messages that never reached the queue; one sweeper at a time cluster-wide.

    Every second it looks at Redis: while Redis is unreachable it keeps trying, and the first sweep after an
    outage, or as soon as Redis answers without its data (hub.core.redis_conn.redis_epoch), comes at once and takes
    every waiting message, without the grace period. Between full sweeps, a quick one every second
    (`sweep(quick=True)`): messages whose work horse was killed mid-job are taken back within seconds, and
    replies waiting for a retry go out once the WeChat API works again.
    """
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
                full = lost or outage or time.monotonic() >= next_sweep
                lock = state.redis.lock("hub:sweeper", timeout=max(state.config.sweep_interval_seconds * 4, 10))
                if lock.acquire(blocking=False):
                    try:
                        if full:
                            sweep(grace_seconds=0 if (lost or outage) else None)
                        else:
                            sweep(quick=True)
                    finally:
                        lock.release()
                _offer_tick(state)
                known_epoch, outage = epoch, False
                if full:
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


def _offer_tick(state: HubState) -> None:
    try:
        schedule_tick(state)
    except redis.RedisError:
        raise
    except Exception:  # a bug in the tickets must not stop the sweeps
        log.exception("could not schedule the tickets tick")
