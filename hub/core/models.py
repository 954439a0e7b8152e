"""The shared tables: accounts, fans, identities, messages, console users, versioned artefacts.

Each feature package keeps its own tables in its models.py; importing hub.app registers them all (Alembic does).
Times are timezone-aware UTC (`utcnow()`); SQLModel stores them as UTC. Schema changes go through Alembic
(migrations/); keep the models and the migrations in step.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A time that may come back naive (SQLite, RQ's job hashes) as the UTC time it is."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def json_column(default: Any = None) -> Any:
    return Field(default_factory=lambda: default() if callable(default) else default, sa_column=Column(JSON))


class Account(SQLModel, table=True):
    """A channel account: one Official Account, WeCom app or community forum."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(index=True, unique=True, max_length=64)  # the <key> in /webhooks/<channel>/<key>
    channel: str = Field(max_length=32)
    name: str = Field(default="", max_length=200)
    token: str = Field(default="", max_length=128)
    app_id: str = Field(default="", max_length=128)
    app_secret: str = Field(default="", max_length=256)
    aes_key: str | None = Field(default=None, max_length=64)
    api_base: str | None = Field(default=None, max_length=500)
    settings: dict = json_column(dict)
    created_at: datetime = Field(default_factory=utcnow)


class Fan(SQLModel, table=True):
    """A person, across channels. Identities with the same WeChat unionid share one fan."""

    id: int | None = Field(default=None, primary_key=True)
    unionid: str | None = Field(default=None, index=True, unique=True, max_length=128)  # NULLs never clash
    display_name: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    crm_id: str | None = Field(default=None, index=True, unique=True, max_length=128)  # an outside CRM's id
    # Merged into another fan (hub.conversation.identity): this row stays as a tombstone so links resolve.
    merged_into_id: int | None = Field(default=None, foreign_key="fan.id", index=True)


class Identity(SQLModel, table=True):
    """A fan as one account knows them (a WeChat openid)."""

    __table_args__ = (UniqueConstraint("account_id", "external_id", name="uq_identity_account_external"),)

    id: int | None = Field(default=None, primary_key=True)
    fan_id: int = Field(foreign_key="fan.id", index=True)
    account_id: int = Field(foreign_key="account.id")
    external_id: str = Field(max_length=128)  # openid
    subscribed: bool = True
    subscribed_at: datetime | None = None
    unsubscribed_at: datetime | None = None
    referral_scene: str | None = Field(default=None, max_length=128)  # qrscene_ of the first subscribe
    last_inbound_at: datetime | None = None  # opens WeChat's 48-hour customer-service window
    created_at: datetime = Field(default_factory=utcnow)
    unionid: str | None = Field(default=None, max_length=128)  # the WeChat unionid this identity came with
    info_checked_at: datetime | None = None  # when WeChat's user/info was last asked about it


class FanEvent(SQLModel, table=True):
    """The log of changes to who a fan is: merges, splits, CRM ids (who, when, what moved)."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # merge | split | crm_id
    fan_id: int = Field(foreign_key="fan.id", index=True)  # the fan kept (merge), split from, or changed
    other_fan_id: int | None = Field(default=None, foreign_key="fan.id", index=True)  # merged in / split off
    identity_id: int | None = Field(default=None, foreign_key="identity.id")  # the identity split off
    actor_id: int | None = Field(default=None, foreign_key="user.id")  # None: the hub itself (a shared unionid)
    reason: str = Field(default="", max_length=200)
    data: dict = json_column(dict)
    created_at: datetime = Field(default_factory=utcnow)


# Message directions and states.
IN, OUT = "in", "out"
RECEIVED, PROCESSING, PROCESSED, FAILED = "received", "processing", "processed", "failed"
QUEUED, SENDING, SENT = "queued", "sending", "sent"
# Who answers an inbound message: not decided yet, the webhook's passive reply, the worker, nobody.
REPLY_PENDING, REPLY_PASSIVE, REPLY_ASYNC, REPLY_NONE = "pending", "passive", "async", "none"


class Message(SQLModel, table=True):
    """Every message in or out. The unique key (account, external id) is the truth for dedupe."""

    __table_args__ = (
        UniqueConstraint("account_id", "external_id", name="uq_message_account_external"),
        Index("ix_message_status_received", "status", "received_at"),
        Index("ix_message_fan_created", "fan_id", "id"),
        Index("ix_message_reply_to", "reply_to_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    fan_id: int = Field(foreign_key="fan.id")
    identity_id: int = Field(foreign_key="identity.id")
    direction: str = Field(max_length=3)
    kind: str = Field(max_length=32)
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    event: str | None = Field(default=None, max_length=64)
    event_key: str | None = Field(default=None, max_length=256)
    external_id: str | None = Field(default=None, max_length=200)  # inbound: MsgId / sender:time:event
    dedupe_key: str | None = Field(default=None, unique=True, max_length=200)  # outbound: one reply per cause
    sent_at: datetime = Field(default_factory=utcnow)
    received_at: datetime = Field(default_factory=utcnow)
    status: str = Field(max_length=16)
    reply_state: str = Field(default=REPLY_PENDING, max_length=16)
    reply_to_id: int | None = Field(default=None, foreign_key="message.id")
    source: str = Field(default="", max_length=64)  # bot name, "agent:<id>", "fan"
    via: str | None = Field(default=None, max_length=16)  # outbound: passive | api
    attempts: int = 0
    error_code: str | None = Field(default=None, max_length=32)
    error_message: str | None = Field(default=None, max_length=500)
    enqueued_at: datetime | None = None
    processing_started_at: datetime | None = None
    processed_at: datetime | None = None
    meta: dict = json_column(dict)
    raw: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


ROLES = ("admin", "operator", "agent")


class User(SQLModel, table=True):
    """A console user: an admin, a community operator or a service agent."""

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(index=True, unique=True, max_length=254)
    password_hash: str = Field(max_length=256)
    role: str = Field(max_length=16)
    display_name: str = Field(default="", max_length=200)
    locale: str | None = Field(default=None, max_length=16)  # the console's language (None: Chinese, the default)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
class ModelBlob(SQLModel, table=True):
    """A versioned artefact: a knowledge-base index or a trained classifier. One active per kind."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32, index=True)  # kb_index | interest | intent
    version: str = Field(max_length=64)
    active: bool = False
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    metrics: dict = json_column(dict)
    created_at: datetime = Field(default_factory=utcnow)
