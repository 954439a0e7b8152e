"""The webhook's hand-off to the workers: stored message ids pushed onto a Redis list.

Creating an RQ job costs the web process about a millisecond of CPU per message (job hash, Lua
scripts); a list push costs a tenth of that, and a pusher thread in each web process pushes the ids
stored since its last push in one RPUSH, off the request path. A dispatcher thread in every worker
process moves the ids into RQ as `process_message` jobs with deterministic ids, in batches. Ids that
never reach the list (Redis down, a web process killed between its commit and its push) or are lost
with a dispatcher are found by the sweeper, which enqueues from the database.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time

import redis

from hub.state import HubState

log = logging.getLogger("hub.inbox")
INBOX_KEY = "hub:inbox"
BATCH = 200
BATCH_WINDOW_SECONDS = 0.02


class Pusher:
    """Collects the ids a web process stored and pushes them from a background thread, many per RPUSH.

    The thread waits BATCH_WINDOW after the first id so that the ids of concurrent requests share a push,
    and a request only sets a flag: waking a thread for every message would cost more than the push.
    """

    def __init__(self, state: HubState) -> None:
        self.state = state
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._pending: list[int] = []
        self._busy = False  # a batch taken from _pending is being pushed
        self._pid = 0

    def push(self, message_id: int) -> None:
        self.push_many([message_id])

    def push_many(self, message_ids: list[int]) -> None:
        if not message_ids:
            return
        with self._lock:
            if self._pid != os.getpid():  # first use in this process (a forked one has no thread)
                self._pid = os.getpid()
                self._pending.clear()
                threading.Thread(target=self._run, name="inbox-pusher", daemon=True).start()
                atexit.register(self.flush, 1.0)  # a web process that stops cleanly pushes what it holds
            self._pending.extend(message_ids)
        self._wake.set()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every id handed over so far has been pushed (or given up to the sweeper)."""
        with self._drained:
            return self._drained.wait_for(lambda: not self._pending and not self._busy, timeout)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(BATCH_WINDOW_SECONDS)
            self._wake.clear()  # ids pushed from here on set it again; those before are in this batch
            with self._lock:
                batch, self._pending, self._busy = self._pending, [], True
            try:
                if batch:
                    self.state.redis.rpush(INBOX_KEY, *batch)
            except redis.RedisError as exc:
                log.warning("inbox unavailable, left for the sweeper",
                            extra={"messages": len(batch), "error": str(exc)})
            except Exception:
                log.exception("pushing to the inbox failed, left for the sweeper")
            finally:
                with self._lock:
                    self._busy = False
                    self._drained.notify_all()


def pusher(state: HubState) -> Pusher:
    """This process's pusher for `state`."""
    found: Pusher | None = state.extras.get("inbox_pusher")
    if found is None:
        found = state.extras.setdefault("inbox_pusher", Pusher(state))
    return found


def push(state: HubState, message_id: int) -> None:
    """Hand a stored message to the workers; returns at once, the push follows within milliseconds."""
    pusher(state).push(message_id)


def dispatch_batch(state: HubState, connection: redis.Redis, block_seconds: float = 1.0) -> int:
    """Move up to BATCH ids from the inbox into RQ; wait up to `block_seconds` for the first one."""
    from hub.tasks import enqueue_process

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
    from hub.intake_journal import flush_all

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
    from hub.redis_conn import quick_retry, redis_url

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
