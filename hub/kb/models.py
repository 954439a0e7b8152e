"""Knowledge-base entries, proposals from unanswered questions, tokenizer terms, and similar questions learned
from agents' answers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from hub.core.models import json_column, utcnow


class KbEntry(SQLModel, table=True):
    """A knowledge-base entry: a standard question, its paraphrases and the answer."""

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(index=True, unique=True, max_length=128)
    question: str = Field(sa_column=Column(Text, nullable=False))
    similar: list = json_column(list)
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
    candidates: list = json_column(list)
    created_at: datetime = Field(default_factory=utcnow)


class KbTerm(SQLModel, table=True):
    """A brand or product term for the tokenizer; with `means`, a synonym folded onto that term."""

    id: int | None = Field(default=None, primary_key=True)
    term: str = Field(index=True, unique=True, max_length=100)
    means: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(default_factory=utcnow)


class KbSimilarProposal(SQLModel, table=True):
    """A fan's question an agent answered with an entry: proposed as one more similar question of that entry.

    One per (entry, normalised question): the same question answered again with the same entry, or one that was
    rejected before, is not proposed twice. `message_id` is the fan's question, `ticket_id` the ticket it was
    answered on (no foreign key: the knowledge base does not depend on tickets), `reply_id` the agent's reply."""

    __table_args__ = (UniqueConstraint("entry_id", "question_key", name="uq_kbsimilarproposal_entry_question"),)

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="kbentry.id", index=True)
    question: str = Field(sa_column=Column(Text, nullable=False))
    question_key: str = Field(max_length=64)  # sha1 of the normalised question
    message_id: int | None = Field(default=None, foreign_key="message.id")
    ticket_id: int | None = None
    reply_id: int | None = Field(default=None, foreign_key="message.id")
    agent_id: int | None = Field(default=None, foreign_key="user.id")
    source: str = Field(default="inserted", max_length=16)  # inserted (from the suggestions) | marked
    status: str = Field(default="open", max_length=16, index=True)  # open | accepted | rejected
    decided_by: int | None = Field(default=None, foreign_key="user.id")
    decided_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
