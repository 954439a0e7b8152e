"""The tables of the human half: tickets and their event log, teams, agents, canned replies, notifications.

A ticket is active while open, assigned or waiting on the fan; a partial unique index allows one active ticket per
fan (one person, across all their accounts and channels), so two hand-offs at the same moment join one ticket. An
agent's `load` counts the active tickets assigned to them; routing raises it with a conditional UPDATE (`load <
capacity`) in the same transaction that assigns the ticket, so no agent goes over capacity and no ticket is assigned
twice. """

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, text
from sqlmodel import Field, SQLModel

from hub.core.models import json_column, utcnow

# Ticket states: open (waiting for an agent) → assigned → waiting (on the fan) → resolved → closed.
OPEN, ASSIGNED, WAITING, RESOLVED, CLOSED = "open", "assigned", "waiting", "resolved", "closed"
TICKET_OPEN, TICKET_ASSIGNED, TICKET_CLOSED = OPEN, ASSIGNED, CLOSED  # the names other packages used so far
STATUSES = (OPEN, ASSIGNED, WAITING, RESOLVED, CLOSED)
ACTIVE = (OPEN, ASSIGNED, WAITING)  # a person is (or will be) handling the fan: the bots stay quiet

# Priorities, lowest first; stored as numbers so queues sort by them.
PRIORITIES = {1: "low", 2: "normal", 3: "high", 4: "urgent"}
PRIORITY_BY_NAME = {name: number for number, name in PRIORITIES.items()}
NORMAL, HIGH, URGENT = 2, 3, 4

# Agent presence.
ONLINE, AWAY, OFFLINE = "online", "away", "offline"
PRESENCE = (ONLINE, AWAY, OFFLINE)

_ACTIVE_SQL = text("status IN ('open', 'assigned', 'waiting')")


class Team(SQLModel, table=True):
    """A group of agents with skills: intents and interest tags whose tickets it takes (complaint → 售后)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=64)
    skills: list = json_column(list)
    lead_id: int | None = Field(default=None, foreign_key="user.id")  # notified when a ticket escalates
    created_at: datetime = Field(default_factory=utcnow)


class Agent(SQLModel, table=True):
    """A console user who works tickets: capacity, presence, and the load routing keeps exact."""

    user_id: int = Field(foreign_key="user.id", primary_key=True)
    capacity: int = 5  # concurrent active tickets
    load: int = 0  # active tickets assigned now (kept in the same transactions that assign and release them)
    status: str = Field(default=OFFLINE, max_length=16)
    status_by_heartbeat: bool = False  # set through the console/API: fades to away, then offline, when silent
    last_seen_at: datetime | None = None
    last_assigned_at: datetime | None = None  # round-robin among equally loaded agents
    created_at: datetime = Field(default_factory=utcnow)


class TeamMember(SQLModel, table=True):
    team_id: int = Field(foreign_key="team.id", primary_key=True)
    user_id: int = Field(foreign_key="user.id", primary_key=True, index=True)


class Ticket(SQLModel, table=True):
    """A conversation a person takes over from the bots."""

    __table_args__ = (
        Index("uq_ticket_active_fan", "fan_id", unique=True,
              sqlite_where=_ACTIVE_SQL, postgresql_where=_ACTIVE_SQL),
        Index("ix_ticket_status_priority", "status", "priority", "created_at"),
        Index("ix_ticket_assignee_status", "assignee_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    fan_id: int = Field(foreign_key="fan.id", index=True)
    status: str = Field(default=OPEN, max_length=16)
    priority: int = NORMAL
    subject: str = Field(default="", max_length=200)
    channel: str = Field(default="", max_length=32)
    intent: str | None = Field(default=None, max_length=32)
    source: str = Field(default="bot", max_length=16)  # bot | agent | api
    reason: str = Field(default="", max_length=200)
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    assignee_id: int | None = Field(default=None, foreign_key="user.id")
    first_message_id: int | None = Field(default=None, foreign_key="message.id")
    last_message_id: int | None = Field(default=None, foreign_key="message.id")
    candidates: list = json_column(list)
    # SLA: due times move forward while the ticket waits on the fan (paused_at .. its end).
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None
    paused_at: datetime | None = None
    first_response_at: datetime | None = None
    sla_warned: list = json_column(list)  # "first_response", "resolution", "window": each warned once
    first_response_breached_at: datetime | None = None
    resolution_breached_at: datetime | None = None
    escalated_at: datetime | None = None
    last_fan_message_at: datetime | None = None  # WeChat's 48-hour customer-service window runs from here
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    merged_into_id: int | None = Field(default=None, foreign_key="ticket.id")
    csat_requested_at: datetime | None = None
    csat_score: int | None = None
    csat_comment: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class TicketMessage(SQLModel, table=True):
    """Which ticket a message (the fan's, a bot's or an agent's) belongs to."""

    message_id: int = Field(foreign_key="message.id", primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)


class TicketEvent(SQLModel, table=True):
    """The ticket's log: who did what, when (opened, assigned, transferred, replied, noted, status, merged...)."""

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    kind: str = Field(max_length=32)
    actor_id: int | None = Field(default=None, foreign_key="user.id")  # None: the hub itself
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # a note's text
    data: dict = json_column(dict)
    created_at: datetime = Field(default_factory=utcnow)


class CannedReply(SQLModel, table=True):
    """A prepared answer with placeholders ({fan_name}, {ticket_id}, {agent_name})."""

    id: int | None = Field(default=None, primary_key=True)
    shortcut: str = Field(unique=True, max_length=64)
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class Notification(SQLModel, table=True):
    """Something an agent or a team lead must see: an escalation, an SLA warning, a window about to close."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id")
    kind: str = Field(max_length=32)
    text: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    read_at: datetime | None = None
