"""Tags, fans' tags and interest profiles, labelled examples, and links to WeChat user tags."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from hub.core.models import json_column, utcnow

TAG_KINDS = ("interest", "manual", "system")


class Tag(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=30)  # WeChat allows 30 characters
    kind: str = Field(default="interest", max_length=16)
    description: str = Field(default="", max_length=500)
    seed_keywords: list = json_column(list)
    deleted_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class FanTag(SQLModel, table=True):
    """A tag on a fan: automatic (with score and evidence) or manual (always wins)."""

    __table_args__ = (
        UniqueConstraint("fan_id", "tag_id", name="uq_fantag_fan_tag"),
        # Audiences (hub.tags.audience_query): a tag's active fans as one sorted index range.
        Index("ix_fantag_active_tag_fan", "tag_id", "fan_id",
              sqlite_where=text("active = 1"), postgresql_where=text("active = true")),
    )

    id: int | None = Field(default=None, primary_key=True)
    fan_id: int = Field(foreign_key="fan.id", index=True)
    tag_id: int = Field(foreign_key="tag.id", index=True)
    source: str = Field(default="auto", max_length=16)  # auto | manual
    active: bool = True
    score: float = 0.0
    evidence: list = json_column(list)
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


class FanProfile(SQLModel, table=True):
    """A fan's interest profile (scores, evidence, manual overrides) as the tagger keeps it incrementally.

    `last_message_id` makes updates idempotent: a message at or below it was counted already.
    """

    id: int | None = Field(default=None, primary_key=True)
    fan_id: int = Field(foreign_key="fan.id", unique=True)
    data: dict = json_column(dict)
    last_message_id: int = 0
    model_version: str = Field(default="", max_length=64)
    updated_at: datetime = Field(default_factory=utcnow)


class SavedAudience(SQLModel, table=True):
    """A named audience expression (hub.tags.audience_syntax), re-evaluated whenever it is opened or exported."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=100)
    expression: str = Field(sa_column=Column(Text, nullable=False))
    description: str = Field(default="", max_length=500)
    created_by: int | None = Field(default=None, foreign_key="user.id")
    last_count: int | None = None  # at the last evaluation (the list shows it; opening one counts again)
    last_counted_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
