"""Handing a fan to a person: open a ticket (or add to the fan's open one) and tell the fan."""

from __future__ import annotations

from sqlmodel import Session, select

from bots.base import Handoff
from hub.core.models import Message, utcnow
from hub.outbound import record_outbound
from hub.tickets import TICKET_CLOSED, Ticket


def open_ticket(session: Session, message: Message, decision: Handoff) -> list[int]:
    """Returns the ids of outbound messages to send (the note to the fan, if the bot gave one)."""
    ticket = session.exec(
        select(Ticket)
        .where(Ticket.fan_id == message.fan_id, Ticket.account_id == message.account_id)
        .where(Ticket.status != TICKET_CLOSED)
        .order_by(Ticket.id.desc())  # type: ignore[union-attr]
    ).first()
    now = utcnow()
    candidates = [dict(c) for c in decision.candidates]
    intent = (message.meta or {}).get("intent")
    if ticket is None:
        ticket = Ticket(
            account_id=message.account_id,
            fan_id=message.fan_id,
            intent=intent,
            reason=decision.reason[:200],
            first_message_id=message.id,
            last_message_id=message.id,
            candidates=candidates,
            created_at=now,
            updated_at=now,
        )
    else:
        ticket.last_message_id = message.id
        ticket.updated_at = now
        ticket.candidates = candidates or ticket.candidates
        ticket.intent = intent or ticket.intent
    session.add(ticket)
    session.flush()
    message.meta = {**(message.meta or {}), "ticket_id": ticket.id}
    if not decision.text:
        return []
    return [record_outbound(session, message, message.id, decision.text, source=decision.source, via="api")]
