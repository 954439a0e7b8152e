"""Accepting an inbound message: dedupe, the fan and identity, and one write that stores the message with
its passive reply. Nothing accepted is lost; a message is accepted when this write commits, or when it is
appended to the intake journal (hub.intake.journal), which the loader writes to the database.

The database unique key (account, external id) dedupes: a retried or concurrent copy loses the insert
and is answered from the stored message. The webhook path is kept lean (Core statements, one write
transaction) because SQLite has one writer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, Table, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bots.base import Reply
from channels.base import EVENT, InboundMessage
from hub.conversation.fan_cache import fan_generation
from hub.core.models import IN, RECEIVED, REPLY_NONE, REPLY_PASSIVE, REPLY_PENDING, Fan, Identity, Message, utcnow
from hub.core.prepared import BoundRow, PreparedInsert, PreparedStatement
from hub.core.state import HubState
from hub.intake.group_commit import shared_group_commit
from hub.intake.journal import IntakeJournal, journal_for
from hub.intake.journal import enabled as journal_enabled
from hub.kb import apply_kb_effects
from hub.outbound import FanRefLike, record_outbound, reply_meta

log = logging.getLogger("hub.intake.accept")

# Activity timestamps are informational (WeChat itself enforces the 48-hour window): refreshing them at
# most once a minute spares a write on most messages.
ACTIVITY_RESOLUTION = timedelta(seconds=60)
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
class FanRef:
    """The identity a message comes from, as the accept path needs it (and as record_outbound reads it)."""

    account_id: int
    identity_id: int
    fan_id: int
    last_inbound_at: datetime | None  # as this process last saw or wrote it


@dataclass(frozen=True)
class Stored:
    message_id: int | None  # None: journaled, the loader stores it and hands it to the workers
    duplicate: bool


def find_message(state: HubState, account_id: int, external_id: str) -> int | None:
    with Session(state.engine) as session:
        return session.scalar(
            select(Message.id).where(Message.account_id == account_id, Message.external_id == external_id)
        )


_IDENTITY = Identity.__table__
_MESSAGE = Message.__table__
_FAN = Fan.__table__
_FIND_IDENTITY = select(_IDENTITY.c.id, _IDENTITY.c.fan_id, _IDENTITY.c.last_inbound_at).where(
    _IDENTITY.c.account_id == bindparam("account_id"), _IDENTITY.c.external_id == bindparam("sender"))
_INSERT_MESSAGE = PreparedInsert(_MESSAGE, natural_key=("account_id", "external_id"))
# Activity only moves forward, whatever another process wrote meanwhile.
_TOUCH_IDENTITY = PreparedStatement(update(_IDENTITY).where(
    _IDENTITY.c.id == bindparam("identity_id"),
    or_(_IDENTITY.c.last_inbound_at.is_(None), _IDENTITY.c.last_inbound_at < bindparam("at")),
).values(last_inbound_at=bindparam("at")))
_TOUCH_FAN = PreparedStatement(update(_FAN).where(_FAN.c.id == bindparam("fan_id"))
                               .values(last_seen_at=bindparam("now")))
CACHE_SIZE = 50_000


def _fan_cache(state: HubState) -> dict[tuple[int, str], FanRef]:
    # A merge or split anywhere bumps the fans' generation (hub.conversation.fan_cache): start over then.
    generation = fan_generation(state)
    held: tuple[str, dict[tuple[int, str], FanRef]] | None = state.caches.get("fan_refs")
    if held is None or held[0] != generation or len(held[1]) > CACHE_SIZE:
        held = (generation, {})
        state.caches["fan_refs"] = held
    return held[1]


def fan_for(state: HubState, account_id: int, inbound: InboundMessage) -> FanRef:
    """The fan behind `inbound.sender` on this account; created on first contact, in one short transaction.

    Cached per process; an identity's fan changes only by a merge or a split, which every cache notices (see
    `_fan_cache`)."""
    cache = _fan_cache(state)
    ref = cache.get((account_id, inbound.sender))
    if ref is not None:
        return ref
    with state.engine.connect() as conn:
        row = conn.execute(_FIND_IDENTITY, {"account_id": account_id, "sender": inbound.sender}).first()
        if row is None:
            row = _create_identity(conn, account_id, inbound)
    ref = FanRef(account_id, row.id, row.fan_id, row.last_inbound_at)
    cache[(account_id, inbound.sender)] = ref
    return ref


def _create_identity(conn: Connection, account_id: int, inbound: InboundMessage) -> Row:
    """Insert the fan and the identity and commit; a concurrent first message from the same fan may win the
    identity, and then this transaction (with the fan it inserted) is rolled back and the winner read. A
    unionid is unique: a concurrent first message from the same person on another account may win the fan,
    and then its fan is the one this identity joins.

    A burst of new fans (a QR-code campaign) makes this the common case, so it is one transaction with no
    savepoint and no second lookup. The identity starts with the activity the first message records."""
    now = utcnow()
    unionid = inbound.extra.get("unionid") or None
    fan_id = conn.scalar(select(_FAN.c.id).where(_FAN.c.unionid == unionid)) if unionid else None
    if fan_id is None:
        # A channel that knows the person's name tells it (a forum's display name or username; WeChat no longer does).
        name = str(inbound.extra.get("name") or inbound.extra.get("username") or "")[:200]
        new_fan = _upsert(conn)(_FAN).values(unionid=unionid, display_name=name, created_at=now, last_seen_at=now)
        if unionid:  # the same person's first message to another account may have created the fan meanwhile
            new_fan = new_fan.on_conflict_do_nothing(index_elements=["unionid"])
        fan_id = conn.scalar(new_fan.returning(_FAN.c.id))
        if fan_id is None:
            fan_id = conn.scalar(select(_FAN.c.id).where(_FAN.c.unionid == unionid))
    new_identity = _upsert(conn)(_IDENTITY).values(
        fan_id=fan_id, account_id=account_id, external_id=inbound.sender, subscribed=True, created_at=now,
        last_inbound_at=inbound.sent_at if _fan_action(inbound) else None, unionid=unionid,
    ).on_conflict_do_nothing(index_elements=["account_id", "external_id"])
    row = conn.execute(new_identity.returning(_IDENTITY.c.id, _IDENTITY.c.fan_id, _IDENTITY.c.last_inbound_at)).first()
    if row is None:
        conn.rollback()
        return conn.execute(_FIND_IDENTITY, {"account_id": account_id, "sender": inbound.sender}).one()
    conn.commit()
    return row


def _upsert(conn: Connection) -> Callable[[Table], Any]:
    """The dialect's INSERT with ON CONFLICT (SQLite and PostgreSQL both have it)."""
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def _fan_action(inbound: InboundMessage) -> bool:
    """Something the fan did (it opens the 48-hour window), not a notice about them."""
    return inbound.kind != EVENT or inbound.event not in _SYSTEM_EVENTS


def _stale(fan: FanRef, inbound: InboundMessage) -> bool:
    """Whether `inbound` moves the fan's recorded activity (kept to ACTIVITY_RESOLUTION)."""
    return _fan_action(inbound) and (
        fan.last_inbound_at is None or inbound.sent_at - fan.last_inbound_at >= ACTIVITY_RESOLUTION)


def _changes_identity(fan: FanRef, inbound: InboundMessage) -> bool:
    """Whether storing `inbound` also writes to the identity and fan (see _record_activity)."""
    return inbound.event in ("subscribe", "unsubscribe") or _stale(fan, inbound)


def _record_activity(session: Connection, fan: FanRef, inbound: InboundMessage, now: datetime) -> FanRef:
    """Subscribe state and referral scene on (un)subscribe; activity times at most once a minute."""
    if inbound.event == "subscribe":
        scene = inbound.extra.get("scene")
        values: dict = {"subscribed": True, "subscribed_at": now}
        if scene:  # the first referral scene stays
            values["referral_scene"] = func.coalesce(Identity.referral_scene, str(scene)[:128])
        session.execute(update(Identity).where(Identity.id == fan.identity_id).values(**values))
    elif inbound.event == "unsubscribe":
        session.execute(update(Identity).where(Identity.id == fan.identity_id)
                        .values(subscribed=False, unsubscribed_at=now))
    if _stale(fan, inbound):
        _TOUCH_IDENTITY.run(session, {"identity_id": fan.identity_id, "at": inbound.sent_at})
        _TOUCH_FAN.run(session, {"fan_id": fan.fan_id, "now": now})
        return replace(fan, last_inbound_at=inbound.sent_at)
    return fan


def store(state: HubState, fan: FanRef, inbound: InboundMessage, reply: Reply | None) -> Stored:
    """Store the message, and its passive reply if the bots gave one. Most messages record nothing about
    the fan (see _changes_identity): where the intake journal is on, they are appended to it with their
    reply (hub.intake.journal). The others, and all where it is off, are written in one transaction shared
    with the concurrent requests of this process (hub.intake.group_commit); one with neither a reply nor anything
    to record is one INSERT needing no transaction."""
    now = utcnow()
    # Bound here, while another request may hold the writer: the transaction itself stays short.
    message = inbound_row(state, fan, inbound, reply is not None, now)
    changes_identity = _changes_identity(fan, inbound)
    journal = message_journal(state)
    if journal is not None and not changes_identity and journal.append(
            message.parameters, None if reply is None else _journaled_reply(reply)):
        return Stored(None, duplicate=False)

    def write(conn: Connection, message_id: int) -> tuple[int, FanRef]:
        if reply is not None:
            _record_reply(conn, fan, message_id, inbound.text, reply)
        return message_id, _record_activity(conn, fan, inbound, now)

    committer = shared_group_commit(state)
    try:
        if reply is None and not changes_identity:
            message_id, updated = committer.insert(message), fan
        else:
            message_id, updated = committer.run_after_insert(message, write)
    except IntegrityError:
        # A retried delivery, or a concurrent copy of it, was stored first.
        existing = find_message(state, fan.account_id, inbound.external_id)
        if existing is None:
            raise
        return Stored(existing, duplicate=True)
    if updated is not fan:
        _fan_cache(state)[(fan.account_id, inbound.sender)] = updated
    return Stored(message_id, duplicate=False)


def inbound_row(state: HubState, fan: FanRef, inbound: InboundMessage, replied: bool, now: datetime) -> BoundRow:
    """The message's row, bound for the database's driver."""
    return _INSERT_MESSAGE.row(state.engine.dialect, dict(
        account_id=fan.account_id, fan_id=fan.fan_id, identity_id=fan.identity_id, direction=IN,
        kind=inbound.kind, text=inbound.text, event=inbound.event, event_key=inbound.event_key,
        external_id=inbound.external_id, dedupe_key=None, sent_at=inbound.sent_at, received_at=now,
        status=RECEIVED, reply_state=_reply_state(inbound, replied), reply_to_id=None,
        source="fan", via=None, attempts=0, error_code=None, error_message=None, enqueued_at=None,
        processing_started_at=None, processed_at=None, meta=_meta(inbound), raw=inbound.raw,
    ))


def _reply_state(inbound: InboundMessage, replied: bool) -> str:
    """A message the channel marks `observe_only` (a forum post outside the categories the bot serves) feeds
    the fan's profile but is answered by nobody: no bot, no ticket."""
    if replied:
        return REPLY_PASSIVE
    return REPLY_NONE if inbound.extra.get("observe_only") else REPLY_PENDING


def message_journal(state: HubState) -> IntakeJournal | None:
    """The intake journal of inbound messages, None where it is off."""
    journal = state.caches.get("message_journal")
    if journal is None:
        journal = journal_for(state, _INSERT_MESSAGE, _after_journaled) if journal_enabled(state) else False
        state.caches["message_journal"] = journal
    return journal or None


def recover_journals(state: HubState) -> int:
    """Load the intake journals that stopped processes left (whether or not this process journals)."""
    return journal_for(state, _INSERT_MESSAGE, _after_journaled).recover()


def _journaled_reply(reply: Reply) -> dict[str, Any]:
    return {"text": reply.text, "source": reply.source, "meta": reply_meta(reply)}


@dataclass(frozen=True)
class _RowFan:
    account_id: int
    fan_id: int
    identity_id: int


def _after_journaled(conn: Connection, message_id: int, row: dict[str, Any], after: dict[str, Any]) -> None:
    """What `store` writes after a journaled message's INSERT: its passive reply, as `write` there does."""
    reply = Reply(after["text"], after["source"], after.get("meta") or {})
    _record_reply(conn, _RowFan(row["account_id"], row["fan_id"], row["identity_id"]), message_id,
                  row["text"] or "", reply)


def _record_reply(conn: Connection, fan: FanRefLike, message_id: int, text: str, reply: Reply) -> None:
    """The passive reply to a message inserted in this transaction, and its effect on the knowledge base."""
    record_outbound(conn, fan, message_id, reply.text, source=reply.source, via="passive",
                    meta=reply_meta(reply), fresh=True)
    apply_kb_effects(conn, message_id, text, reply)


def _meta(inbound: InboundMessage) -> dict:
    plain = (str, int, float, bool, type(None))
    meta = {k: v if isinstance(v, plain) else str(v) for k, v in inbound.extra.items()}
    if inbound.media_id:
        meta["media_id"] = inbound.media_id
    return meta
