"""Live updates for the consoles: every change worth showing (tickets, messages, deliveries, presence,
notifications) is published with a sequence number in Redis, whichever process made it. A console remembers the
number its page was rendered at and asks what changed since (`changes_since`); web processes share nothing but
Redis and the database, so this works with any number of them."""

from __future__ import annotations

import json
import logging
from typing import Any

import redis

from hub.core.state import HubState

log = logging.getLogger("hub.core.live")

LIVE_CHANNEL = "hub:live"  # every update, published (for a subscriber that wants pushes)
LIVE_SEQ = "hub:live:seq"  # bumped with every update: a console polls it to know when to refresh
LIVE_LOG = "hub:live:log"  # the latest updates (seq and JSON), for a console that asks what changed since N
LIVE_LOG_SIZE = 1000


def changes_since(state: HubState, seq: int) -> tuple[int, list[dict[str, Any]]]:
    """The live updates after `seq` (the latest LIVE_LOG_SIZE at most) and the current sequence number."""
    now = int(state.redis.get(LIVE_SEQ) or 0)
    if now <= seq:
        return now, []
    return now, [json.loads(text) for text in state.redis.zrangebyscore(LIVE_LOG, seq + 1, "+inf")]


def publish(state: HubState, updates: list[dict[str, Any]]) -> None:
    """Number and log each update; never raises (the consoles also refresh on their own, a lost update only
    delays them)."""
    if not updates:
        return
    try:
        for update in updates:
            seq = state.redis.incr(LIVE_SEQ)
            text = json.dumps({"seq": seq, **update}, ensure_ascii=False, default=str)
            with state.redis.pipeline(transaction=False) as pipe:
                pipe.publish(LIVE_CHANNEL, text)
                pipe.zadd(LIVE_LOG, {text: seq})
                pipe.zremrangebyrank(LIVE_LOG, 0, -LIVE_LOG_SIZE - 1)
                pipe.execute()
    except redis.RedisError as exc:
        log.warning("live update not published", extra={"error": str(exc)})
