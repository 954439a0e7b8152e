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

from hub.core.state import HubState

log = logging.getLogger("hub.intake.inbox")
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
    found: Pusher | None = state.caches.get("inbox_pusher")
    if found is None:
        found = state.caches.setdefault("inbox_pusher", Pusher(state))
    return found


def push(state: HubState, message_id: int) -> None:
    """Hand a stored message to the workers; returns at once, the push follows within milliseconds."""
    pusher(state).push(message_id)
