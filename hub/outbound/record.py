"""Claiming the right to answer a message and recording the answer — exactly one answer per message.

The webhook stores a passive reply together with the message; the worker claims a message that is
still pending with a conditional UPDATE on `reply_state`, so only one of them ever answers.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bots.base import Reply
from hub.core.models import OUT, QUEUED, REPLY_PENDING, SENT, Message, utcnow
from hub.core.prepared import PreparedInsert

_INSERT = insert(Message.__table__).returning(Message.__table__.c.id)
_INSERT_FRESH = PreparedInsert(Message.__table__)  # every column: see record_outbound


# The columns an outbound message leaves empty (a prepared INSERT binds every column).
_UNSET = dict(event=None, event_key=None, external_id=None, error_code=None, error_message=None, enqueued_at=None,
              processing_started_at=None)


class FanRefLike(Protocol):
    account_id: int
    fan_id: int
    identity_id: int


def claim_reply(session: Session, message_id: int, new_state: str) -> bool:
    result = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.reply_state == REPLY_PENDING)
        .values(reply_state=new_state)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def record_outbound(
    session: Session | Connection,
    fan: FanRefLike,
    reply_to_id: int,
    text: str,
    *,
    source: str,
    via: str,
    meta: dict | None = None,
    dedupe_key: str | None = None,
    fresh: bool = False,
) -> int:
    """Store an outbound message (sent for passive replies, queued for the API); returns its id.

    Idempotent by `dedupe_key` (default: one automatic reply per inbound message). `fresh` says the
    inbound message was inserted in this same transaction, so no earlier reply can exist.
    """
    key = dedupe_key or f"reply:{reply_to_id}"
    now = utcnow()
    values = dict(
        account_id=fan.account_id, fan_id=fan.fan_id, identity_id=fan.identity_id, direction=OUT, kind="text",
        text=text, dedupe_key=key, sent_at=now, received_at=now, status=SENT if via == "passive" else QUEUED,
        reply_state="none", reply_to_id=reply_to_id, source=source, via=via, attempts=0,
        processed_at=now if via == "passive" else None, meta=meta or {}, raw="",
    )
    if fresh:
        return _INSERT_FRESH.run(session, {**_UNSET, **values})
    existing = session.scalar(select(Message.id).where(Message.dedupe_key == key))
    if existing is not None:
        return existing
    nested = session.begin_nested()
    try:
        out_id = session.execute(_INSERT, values).scalar_one()
        nested.commit()
        return out_id
    except IntegrityError:
        nested.rollback()
        return session.scalar(select(Message.id).where(Message.dedupe_key == key))


def reply_meta(reply: Reply) -> dict:
    """The JSON-safe part of a bot's reasons (scalars and lists of scalars), kept on the outbound message."""
    scalar = (str, int, float, bool, type(None))
    return {k: (list(v) if isinstance(v, list | tuple) else v) for k, v in reply.meta.items()
            if isinstance(v, scalar) or (isinstance(v, list | tuple) and all(isinstance(i, scalar) for i in v))}
