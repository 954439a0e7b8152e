"""The auto-reply rules of each account."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from hub.core.models import utcnow

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
