"""Accepting an inbound message: dedupe, upsert the fan and identity, store. Nothing accepted is lost.

The database unique key (account, external id) is the truth for dedupe; a Redis `SET NX` is the fast
path that keeps WeChat's retries away from the database. If Redis is down the database still decides.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime

import redis
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from channels.base import EVENT, InboundMessage
from hub.db import session_scope
from hub.models import IN, RECEIVED, Account, Fan, Identity, Message, utcnow
from hub.state import HubState

log = logging.getLogger("hub.accept")

DEDUPE_TTL_SECONDS = 2 * 24 * 3600
# Events that are not something the fan did: they neither open the 48-hour window nor count as activity.
_SYSTEM_EVENTS = {
    "unsubscribe",
    "templatesendjobfinish",
    "masssendjobfinish",
    "kf_create_session",
    "kf_close_session",
    "kf_switch_session",
}


@dataclass(frozen=True)
class Accepted:
    message_id: int | None  # None: a duplicate still being stored by another request
    duplicate: bool


def _dedupe_key(account_id: int, external_id: str) -> str:
    return f"hub:dedupe:{account_id}:{external_id}"


def accept(state: HubState, account_id: int, inbound: InboundMessage) -> Accepted:
    key = _dedupe_key(account_id, inbound.external_id)
    try:
        first = state.redis.set(key, 1, nx=True, ex=DEDUPE_TTL_SECONDS)
    except redis.RedisError as exc:
        log.warning("dedupe fast path unavailable, the database decides", extra={"error": str(exc)})
        first = True
    if not first:
        return Accepted(_find(state, account_id, inbound.external_id), duplicate=True)
    try:
        return _store(state, account_id, inbound)
    except Exception:
        # The message was not stored: let WeChat's retry through instead of calling it a duplicate.
        _forget(state, key)
        raise


def _forget(state: HubState, key: str) -> None:
    with contextlib.suppress(redis.RedisError):
        state.redis.delete(key)


def _find(state: HubState, account_id: int, external_id: str) -> int | None:
    with Session(state.engine) as session:
        return session.scalar(
            select(Message.id).where(Message.account_id == account_id, Message.external_id == external_id)
        )


def _store(state: HubState, account_id: int, inbound: InboundMessage) -> Accepted:
    now = utcnow()
    try:
        with session_scope(state.engine) as session:
            identity = upsert_identity(session, account_id, inbound, now)
            message = Message(
                account_id=account_id,
                fan_id=identity.fan_id,
                identity_id=identity.id,
                direction=IN,
                kind=inbound.kind,
                text=inbound.text,
                event=inbound.event,
                event_key=inbound.event_key,
                external_id=inbound.external_id,
                sent_at=inbound.sent_at,
                received_at=now,
                status=RECEIVED,
                source="fan",
                meta=_meta(inbound),
                raw=inbound.raw,
            )
            session.add(message)
            session.flush()
            return Accepted(message.id, duplicate=False)
    except IntegrityError:
        # A concurrent request (or a retry after a Redis outage) stored it first.
        existing = _find(state, account_id, inbound.external_id)
        if existing is None:
            raise
        return Accepted(existing, duplicate=True)


def upsert_identity(session: Session, account_id: int, inbound: InboundMessage, now: datetime) -> Identity:
    """The fan behind `inbound.sender` on this account, created on first contact; subscribe state kept."""
    identity = session.scalar(
        select(Identity).where(Identity.account_id == account_id, Identity.external_id == inbound.sender)
    )
    if identity is None:
        identity = _create_identity(session, account_id, inbound, now)
    fan_action = inbound.kind != EVENT or inbound.event not in _SYSTEM_EVENTS
    if inbound.event == "subscribe":
        identity.subscribed = True
        identity.subscribed_at = now
        scene = inbound.extra.get("scene")
        if scene and not identity.referral_scene:
            identity.referral_scene = str(scene)[:128]
    elif inbound.event == "unsubscribe":
        identity.subscribed = False
        identity.unsubscribed_at = now
    if fan_action:
        identity.last_inbound_at = inbound.sent_at
        session.execute(update(Fan).where(Fan.id == identity.fan_id).values(last_seen_at=now))
    session.add(identity)
    return identity


def _create_identity(session: Session, account_id: int, inbound: InboundMessage, now: datetime) -> Identity:
    unionid = inbound.extra.get("unionid")
    fan = session.scalar(select(Fan).where(Fan.unionid == unionid)) if unionid else None
    nested = session.begin_nested()  # a concurrent first message from the same fan may win the insert
    try:
        if fan is None:
            fan = Fan(unionid=unionid, created_at=now, last_seen_at=now)
            session.add(fan)
            session.flush()
        identity = Identity(
            fan_id=fan.id,
            account_id=account_id,
            external_id=inbound.sender,
            subscribed=inbound.event != "unsubscribe",
            created_at=now,
        )
        session.add(identity)
        session.flush()
        nested.commit()
        return identity
    except IntegrityError:
        nested.rollback()
        identity = session.scalar(
            select(Identity).where(Identity.account_id == account_id, Identity.external_id == inbound.sender)
        )
        if identity is None:
            raise
        return identity


def account_id_for(session: Session, key: str) -> int | None:
    return session.scalar(select(Account.id).where(Account.key == key))


def _meta(inbound: InboundMessage) -> dict:
    plain = (str, int, float, bool, type(None))
    meta = {k: v if isinstance(v, plain) else str(v) for k, v in inbound.extra.items()}
    if inbound.media_id:
        meta["media_id"] = inbound.media_id
    return meta
