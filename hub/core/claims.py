"""Claiming a message for one worker: a conditional UPDATE from a ready state to a busy one."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, or_, update
from sqlmodel import Session

from hub.core.models import Message, utcnow


def claim_message(session: Session, message_id: int, direction: str, ready: str, busy: str, stale_seconds: int | None,
                  **values: object) -> bool:
    """Take a message from `ready` to `busy` — or, with `stale_seconds`, take it over if it sat in `busy` so long
    that its worker must have died. A conditional UPDATE, so two workers never both get it."""
    claimable = Message.status == ready
    if stale_seconds is not None:
        stale = utcnow() - timedelta(seconds=stale_seconds)
        claimable = or_(claimable, and_(Message.status == busy, Message.processing_started_at < stale))
    return bool(session.execute(
        update(Message)
        .where(Message.id == message_id, Message.direction == direction, claimable)
        .values(status=busy, processing_started_at=utcnow(), **values)
    ).rowcount)
