"""Claiming the right to answer a message and recording the answer — exactly one answer per message.

The webhook (passive reply) and the worker (customer-service API) may both decide; a conditional UPDATE
on `reply_state` lets only the first one through.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bots.base import Reply
from hub.models import (
    OUT,
    QUEUED,
    REPLY_PENDING,
    SENT,
    Message,
    utcnow,
)


def claim_reply(session: Session, message_id: int, new_state: str) -> bool:
    result = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.reply_state == REPLY_PENDING)
        .values(reply_state=new_state)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def record_outbound(
    session: Session,
    inbound: Message,
    text: str,
    *,
    source: str,
    via: str,
    dedupe_key: str,
    meta: dict | None = None,
) -> Message:
    """Store an outbound message (status sent for passive replies, queued for the API); idempotent by key."""
    existing = session.exec(select(Message).where(Message.dedupe_key == dedupe_key)).first()
    if existing is not None:
        return existing
    now = utcnow()
    outbound = Message(
        account_id=inbound.account_id,
        fan_id=inbound.fan_id,
        identity_id=inbound.identity_id,
        direction=OUT,
        kind="text",
        text=text,
        dedupe_key=dedupe_key,
        sent_at=now,
        received_at=now,
        status=SENT if via == "passive" else QUEUED,
        reply_state="none",
        reply_to_id=inbound.id,
        source=source,
        via=via,
        processed_at=now if via == "passive" else None,
        meta=meta or {},
    )
    nested = session.begin_nested()
    try:
        session.add(outbound)
        session.flush()
        nested.commit()
    except IntegrityError:
        nested.rollback()
        return session.exec(select(Message).where(Message.dedupe_key == dedupe_key)).one()
    return outbound


def reply_meta(reply: Reply) -> dict:
    """The JSON-safe part of a bot's reasons (scalars and lists of scalars), kept on the outbound message."""
    scalar = (str, int, float, bool, type(None))
    return {k: (list(v) if isinstance(v, list | tuple) else v) for k, v in reply.meta.items()
            if isinstance(v, scalar) or (isinstance(v, list | tuple) and all(isinstance(i, scalar) for i in v))}
