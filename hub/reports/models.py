"""The dashboards' daily aggregates (rollups) and the refresh job's bookkeeping.

Message-derived rollups (`ReportMessageDay`, `ReportSubscribeDay`, `ReportInterestDay`) carry a `final` flag in
their key: final rows hold messages at or below the settled watermark (`ReportState.message_id`) and are only
ever added to; provisional rows hold the messages after it and are recomputed on every refresh (see
hub.reports.rollups). Ticket rollups (`ReportTicketDay`) are recomputed for recent and touched days. Days are
calendar days in the hub's timezone; `ReportInterestSnapshot` keeps the fans per interest tag once a week.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field, SQLModel


class ReportMessageDay(SQLModel, table=True):
    """Messages of one account and day: in and out, and what the bots did with the fans' messages."""

    __tablename__ = "report_message_day"

    day: date = Field(primary_key=True)
    account_id: int = Field(primary_key=True)
    final: bool = Field(primary_key=True)
    messages_in: int = 0
    messages_out: int = 0
    fan_messages: int = 0  # inbound, not events: what the bots may answer
    answered: int = 0  # a bot's answer (not a suggestion list, not a hand-off notice)
    suggested: int = 0  # the FAQ bot's "您是想问…" list
    handed_off: int = 0  # a bot handed the fan to a person
    agent_replies: int = 0


class ReportSubscribeDay(SQLModel, table=True):
    """Subscribe and unsubscribe events of one account, day and referral scene ('' for none)."""

    __tablename__ = "report_subscribe_day"

    day: date = Field(primary_key=True)
    account_id: int = Field(primary_key=True)
    scene: str = Field(primary_key=True, max_length=128)
    final: bool = Field(primary_key=True)
    subscribed: int = 0
    unsubscribed: int = 0


class ReportInterestDay(SQLModel, table=True):
    """Fan messages of one account and day whose strongest interest was `tag` (a tag's name)."""

    __tablename__ = "report_interest_day"

    day: date = Field(primary_key=True)
    account_id: int = Field(primary_key=True)
    tag: str = Field(primary_key=True, max_length=64)
    final: bool = Field(primary_key=True)
    messages: int = 0


class ReportTicketDay(SQLModel, table=True):
    """Tickets of one account and day, each figure on the day its event happened (opened, first answer,
    resolved, breached); CSAT scores on the day the ticket was resolved."""

    __tablename__ = "report_ticket_day"

    day: date = Field(primary_key=True)
    account_id: int = Field(primary_key=True)
    opened: int = 0
    resolved: int = 0
    first_responses: int = 0
    first_response_seconds: float = 0.0  # sum, over first_responses
    resolution_seconds: float = 0.0  # sum, over resolved (resolved_at - created_at)
    first_response_breaches: int = 0
    resolution_breaches: int = 0
    csat_1: int = 0
    csat_2: int = 0
    csat_3: int = 0
    csat_4: int = 0
    csat_5: int = 0


class ReportInterestSnapshot(SQLModel, table=True):
    """Fans of one account carrying an active interest tag, as counted during the week starting `week`."""

    __tablename__ = "report_interest_snapshot"

    week: date = Field(primary_key=True)  # a Monday
    account_id: int = Field(primary_key=True)
    tag_id: int = Field(primary_key=True)
    fans: int = 0
    taken_at: datetime


class ReportState(SQLModel, table=True):
    """The refresh job's bookkeeping (one row, id 1)."""

    __tablename__ = "report_state"

    id: int = Field(default=1, primary_key=True)
    message_id: int = 0  # the settled watermark: final rollups hold every message up to here
    refreshed_at: datetime | None = None
    tickets_from: date | None = None  # ticket rollups exist from this day on
    snapshot_at: datetime | None = None
    utc_offset_minutes: int = 0  # the day boundaries the rollups were built with
