"""The webhook's hand-off to the workers: one RPUSH of the stored message id onto a Redis list.

Creating an RQ job costs the web process about a millisecond of CPU per message (job hash, Lua
scripts); a list push costs a tenth of that. A dispatcher thread in every worker process moves the ids
into RQ as `process_message` jobs with deterministic ids, in batches. Ids that never reach the list
(Redis down) or are lost with a dispatcher are found by the sweeper, which enqueues from the database.
"""

from __future__ import annotations

import logging
import threading

import redis

from hub.state import HubState

log = logging.getLogger("hub.inbox")
INBOX_KEY = "hub:inbox"
BATCH = 200


def push(state: HubState, message_id: int) -> bool:
    try:
        state.redis.rpush(INBOX_KEY, message_id)
        return True
    except redis.RedisError as exc:
        log.warning("inbox unavailable, left for the sweeper", extra={"message_id": message_id, "error": str(exc)})
        return False


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
    """Dispatch everything waiting now (tests and `hub worker --burst`)."""
    total = 0
    while moved := dispatch_batch(state, state.redis, block_seconds=0):
        total += moved
    return total


def start_dispatcher(state: HubState, connection: redis.Redis, stop: threading.Event) -> threading.Thread:
    def loop() -> None:
        while not stop.is_set():
            try:
                dispatch_batch(state, connection)
            except redis.RedisError as exc:
                log.warning("dispatcher waits for Redis", extra={"error": str(exc)})
                stop.wait(1.0)
            except Exception:
                log.exception("dispatching failed")
                stop.wait(1.0)

    thread = threading.Thread(target=loop, name="inbox-dispatcher", daemon=True)
    thread.start()
    return thread
