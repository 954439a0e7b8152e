"""Figures for `hub stats`, `GET /api/v1/stats` and the console (and the dashboards later)."""

from __future__ import annotations

from typing import Any

import redis
from rq.registry import FailedJobRegistry
from sqlalchemy import func
from sqlmodel import Session, select

from hub.core.models import IN, OUT, SENT, Fan, Message
from hub.core.queue import background_queue
from hub.core.state import HubState
from hub.tickets import ACTIVE, Agent, Ticket
from hub.tickets.csat import csat_summary
from hub.tickets.models import ONLINE


def collect(state: HubState) -> dict[str, Any]:
    with Session(state.engine) as session:

        def count(*where: Any, model: Any = Message) -> int:
            return session.scalar(select(func.count()).select_from(model).where(*where)) or 0

        figures: dict[str, Any] = {
            "fans": count(Fan.merged_into_id.is_(None), model=Fan),  # a merged fan is part of another
            "messages_in": count(Message.direction == IN),
            "messages_out": count(Message.direction == OUT, Message.status == SENT),
            "messages_out_failed": count(Message.direction == OUT, Message.status == "failed"),
            "messages_pending": count(Message.direction == IN, Message.status.in_(("received", "processing"))),
            "tickets": count(model=Ticket),
            "tickets_open": count(Ticket.status == "open", model=Ticket),
            "tickets_assigned": count(Ticket.assignee_id.is_not(None), model=Ticket),
            "tickets_active": count(Ticket.status.in_(ACTIVE), model=Ticket),
            "agents_online": count(Agent.status == ONLINE, model=Agent),
        }
        figures["csat"] = csat_summary(session)
    try:
        queues = (state.queue, background_queue(state.queue))
        figures["jobs_queued"] = sum(queue.count for queue in queues)
        figures["jobs_failed"] = sum(FailedJobRegistry(queue=queue).count for queue in queues)
        figures["redis"] = "ok"
    except redis.RedisError as exc:
        figures.update(jobs_queued=None, jobs_failed=None, redis=f"unavailable: {type(exc).__name__}")
    return figures
