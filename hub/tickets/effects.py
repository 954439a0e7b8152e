"""What a ticket change asks for once its transaction has committed: routing jobs, sends, live updates.

Ticket functions take a session and an `Effects`; they only write the database. The caller commits and
then calls `hub.tickets.jobs.run_effects`, so a job never runs before the change it acts on is visible, and a
rolled-back change enqueues nothing. What fails to reach Redis is not lost: the tickets tick
(hub.tickets.jobs.tick) routes every waiting ticket and the intake sweeper enqueues every queued outbound message.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import redis

from hub.core.state import HubState

log = logging.getLogger("hub.tickets")

LIVE_CHANNEL = "hub:live"  # ticket and message changes, published for every web process
LIVE_SEQ = "hub:live:seq"  # bumped with every publication: a console polls it to know when to refresh
LIVE_LOG = "hub:live:log"  # the latest updates (seq and JSON), for a console that asks what changed since N
LIVE_LOG_SIZE = 1000
WAKE_KEY = "hub:tickets:wake"  # bumped whenever capacity frees: a running route_waiting pass goes round again


@dataclass
class Effects:
    route: set[int] = field(default_factory=set)  # tickets to route (route_ticket jobs)
    wake: bool = False  # capacity freed: route the waiting tickets (route_waiting job)
    send: list[int] = field(default_factory=list)  # outbound messages to deliver (send_message jobs)
    resolved: list[int] = field(default_factory=list)  # tickets just resolved: their survey (survey jobs)
    live: list[dict[str, Any]] = field(default_factory=list)  # updates for the consoles

    def changed(self, ticket_id: int, what: str, **data: Any) -> None:
        self.live.append({"type": what, "ticket_id": ticket_id, **data})


def changes_since(state: HubState, seq: int) -> tuple[int, list[dict[str, Any]]]:
    """The live updates after `seq` (the latest LIVE_LOG_SIZE at most) and the current sequence number."""
    now = int(state.redis.get(LIVE_SEQ) or 0)
    if now <= seq:
        return now, []
    return now, [json.loads(text) for text in state.redis.zrangebyscore(LIVE_LOG, seq + 1, "+inf")]


def publish(state: HubState, updates: list[dict[str, Any]]) -> None:
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
    except redis.RedisError as exc:  # the consoles poll as well; a missed push only delays them
        log.warning("live update not published", extra={"error": str(exc)})
