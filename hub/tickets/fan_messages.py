"""A fan's message while a person handles them: it joins the fan's ticket and the bots stay quiet.

`holds_fan` is the question the webhook asks before it gives a passive reply; `take_fan_message` is what the
worker does with a message of such a fan (join the active ticket, or reopen one resolved a moment ago).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from hub.core.config import Config
from hub.core.models import Message, as_utc, utcnow
from hub.tickets.csat import CSAT_ANSWER_HOURS, take_answer
from hub.tickets.effects import Effects
from hub.tickets.lifecycle import Opening, open_or_join
from hub.tickets.models import ACTIVE, RESOLVED, Ticket


def holds_fan(session: Session, config: Config, account_id: int, fan_id: int) -> bool:
    """Whether a person handles this fan (an active ticket), or their next message belongs to a ticket resolved
    a moment ago (it reopens) or may answer its satisfaction survey: the webhook must not answer it."""
    now = utcnow()
    survey_after = now - timedelta(hours=CSAT_ANSWER_HOURS)
    found = session.exec(
        select(Ticket.id).where(Ticket.account_id == account_id, Ticket.fan_id == fan_id, or_(
            _holding(config, now),
            and_(Ticket.status == RESOLVED, col(Ticket.csat_requested_at) >= survey_after,
                 col(Ticket.csat_score).is_(None)),
        )).limit(1)
    ).first()
    return found is not None


def _holding(config: Config, now: datetime):  # type: ignore[no-untyped-def]
    reopen_after = now - timedelta(minutes=config.ticket_reopen_minutes)
    return or_(col(Ticket.status).in_(ACTIVE), and_(Ticket.status == RESOLVED, col(Ticket.resolved_at) >= reopen_after))


def take_fan_message(session: Session, config: Config, message: Message, channel: str, fx: Effects) -> str | None:
    """Put a fan's (non-event) message on the ticket that holds them. Returns what happened ("csat", "joined",
    "reopened") or None when no ticket holds the fan (the bots decide)."""
    if take_answer(session, config, message, fx):
        return "csat"
    held = session.exec(select(Ticket.id).where(Ticket.account_id == message.account_id,
                                                 Ticket.fan_id == message.fan_id, _holding(config, utcnow()))
                        .limit(1)).first()
    if held is None:
        return None
    opening = Opening(account_id=message.account_id, fan_id=message.fan_id, channel=channel, message_id=message.id,
                      text=message.text, fan_message_at=as_utc(message.sent_at), source="bot",
                      intent=(message.meta or {}).get("intent"))
    ticket, how = open_or_join(session, config, opening, fx)
    message.meta = {**(message.meta or {}), "ticket_id": ticket.id}
    session.add(message)
    return how
