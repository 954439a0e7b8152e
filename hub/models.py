"""Every table of the hub. Times are timezone-aware UTC (`utcnow()`); SQLModel stores them as UTC.

Schema changes go through Alembic (migrations/); keep this file and the migrations in step.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def _json(default: Any = None) -> Any:
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
    settings: dict = _json(dict)
    created_at: datetime = Field(default_factory=utcnow)


class Fan(SQLModel, table=True):
    """A person, across channels. Identities with the same WeChat unionid share one fan."""

    id: int | None = Field(default=None, primary_key=True)
    unionid: str | None = Field(default=None, index=True, unique=True, max_length=128)  # NULLs never clash
    display_name: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)


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
    meta: dict = _json(dict)
    raw: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


# Rule kinds: keyword auto-reply, welcome on subscribe, menu CLICK reply, default reply.
RULE_KINDS = ("keyword", "welcome", "menu", "default")


class Rule(SQLModel, table=True):
    """An auto-reply rule of one account (what WeChat's console did before server mode)."""

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    kind: str = Field(max_length=16)
    match: str = Field(default="contains", max_length=16)  # keyword rules: exact | contains | regex
    pattern: str = Field(default="", max_length=500)  # keyword, menu event key, or referral scene
    reply: str = Field(sa_column=Column(Text, nullable=False))
    priority: int = 0
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow)


ROLES = ("admin", "operator", "agent")


class User(SQLModel, table=True):
    """A console user: an admin, a community operator or a service agent."""

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(index=True, unique=True, max_length=254)
    password_hash: str = Field(max_length=256)
    role: str = Field(max_length=16)
    display_name: str = Field(default="", max_length=200)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


TICKET_OPEN, TICKET_ASSIGNED, TICKET_CLOSED = "open", "assigned", "closed"


class Ticket(SQLModel, table=True):
    """A conversation a person must take over: opened when a bot hands off."""

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    fan_id: int = Field(foreign_key="fan.id", index=True)
    status: str = Field(default=TICKET_OPEN, max_length=16, index=True)
    intent: str | None = Field(default=None, max_length=32)
    reason: str = Field(default="", max_length=200)
    assignee_id: int | None = Field(default=None, foreign_key="user.id")
    first_message_id: int | None = Field(default=None, foreign_key="message.id")
    last_message_id: int | None = Field(default=None, foreign_key="message.id")
    candidates: list = _json(list)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class KbEntry(SQLModel, table=True):
    """A knowledge-base entry: a standard question, its paraphrases and the answer."""

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(index=True, unique=True, max_length=128)
    question: str = Field(sa_column=Column(Text, nullable=False))
    similar: list = _json(list)
    answer: str = Field(sa_column=Column(Text, nullable=False))
    link_url: str | None = Field(default=None, max_length=1000)
    category: str = Field(default="", max_length=100)
    enabled: bool = True
    hits: int = 0
    unhelpful: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class KbProposal(SQLModel, table=True):
    """A question the bot could not answer, with the answer an agent gave: a candidate new entry."""

    id: int | None = Field(default=None, primary_key=True)
    question: str = Field(sa_column=Column(Text, nullable=False))
    answer: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    message_id: int | None = Field(default=None, foreign_key="message.id", unique=True)
    status: str = Field(default="open", max_length=16)  # open | accepted | rejected
    candidates: list = _json(list)
    created_at: datetime = Field(default_factory=utcnow)


class ModelBlob(SQLModel, table=True):
    """A versioned artefact: a knowledge-base index or a trained classifier. One active per kind."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32, index=True)  # kb_index | interest | intent
    version: str = Field(max_length=64)
    active: bool = False
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    metrics: dict = _json(dict)
    created_at: datetime = Field(default_factory=utcnow)


TAG_KINDS = ("interest", "manual", "system")


class Tag(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=30)  # WeChat allows 30 characters
    kind: str = Field(default="interest", max_length=16)
    description: str = Field(default="", max_length=500)
    seed_keywords: list = _json(list)
    deleted_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class FanTag(SQLModel, table=True):
    """A tag on a fan: automatic (with score and evidence) or manual (always wins)."""

    __table_args__ = (UniqueConstraint("fan_id", "tag_id", name="uq_fantag_fan_tag"),)

    id: int | None = Field(default=None, primary_key=True)
    fan_id: int = Field(foreign_key="fan.id", index=True)
    tag_id: int = Field(foreign_key="tag.id", index=True)
    source: str = Field(default="auto", max_length=16)  # auto | manual
    active: bool = True
    score: float = 0.0
    evidence: list = _json(list)
    updated_at: datetime = Field(default_factory=utcnow)


class WeChatTagLink(SQLModel, table=True):
    """The WeChat user-tag id of a hub tag on one Official Account."""

    __table_args__ = (UniqueConstraint("account_id", "tag_id", name="uq_wechattag_account_tag"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    tag_id: int = Field(foreign_key="tag.id")
    wechat_tag_id: int
    synced_at: datetime = Field(default_factory=utcnow)


class Example(SQLModel, table=True):
    """A labelled text for training the interest or intent classifier (operators label; corrections too)."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16, index=True)  # interest | intent
    text: str = Field(sa_column=Column(Text, nullable=False))
    label: str = Field(max_length=64)
    source: str = Field(default="operator", max_length=16)  # operator | correction | seed
    message_id: int | None = Field(default=None, foreign_key="message.id")
    created_at: datetime = Field(default_factory=utcnow)


class KbTerm(SQLModel, table=True):
    """A brand or product term for the tokenizer; with `means`, a synonym folded onto that term."""

    id: int | None = Field(default=None, primary_key=True)
    term: str = Field(index=True, unique=True, max_length=100)
    means: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(default_factory=utcnow)


class FanProfile(SQLModel, table=True):
    """A fan's interest profile (scores, evidence, manual overrides) as the tagger keeps it incrementally.

    `last_message_id` makes updates idempotent: a message at or below it was counted already.
    """

    id: int | None = Field(default=None, primary_key=True)
    fan_id: int = Field(foreign_key="fan.id", unique=True)
    data: dict = _json(dict)
    last_message_id: int = 0
    model_version: str = Field(default="", max_length=64)
    updated_at: datetime = Field(default_factory=utcnow)
