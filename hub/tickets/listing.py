"""Tickets as `hub tickets list` and `GET /api/v1/tickets` show them."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from hub.core.models import User
from hub.core.state import HubState
from hub.tickets.models import Ticket


def list_tickets(state: HubState, status: str | None = None) -> list[dict[str, Any]]:
    with Session(state.engine) as session:
        query = select(Ticket, User.email).join(User, Ticket.assignee_id == User.id, isouter=True)
        if status:
            query = query.where(Ticket.status == status)
        rows = session.exec(query.order_by(Ticket.id)).all()
    return [
        {
            "id": ticket.id,
            "fan": ticket.fan_id,
            "status": ticket.status,
            "assignee": email,
            "intent": ticket.intent,
            "reason": ticket.reason,
            "candidates": ticket.candidates,
            "created_at": ticket.created_at.isoformat(),
            "updated_at": ticket.updated_at.isoformat(),
        }
        for ticket, email in rows
    ]
