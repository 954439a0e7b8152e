"""Service tickets: conversations a person takes over."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from hub.core.models import json_column, utcnow

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
    candidates: list = json_column(list)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
