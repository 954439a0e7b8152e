"""Tickets as the queue, `hub tickets list`, `GET /api/v1/tickets` and the ticket page show them: filtered pages
of tickets, and one ticket with its conversation and event log.

Every filter is served by an index of the ticket table (status+priority, assignee+status, team, fan); the text
search looks at the subject, the fan's name and the ticket number."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import exists, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, func, select

from hub.core.models import IN, OUT, Account, Fan, Message, User, as_utc
from hub.core.state import HubState
from hub.tickets.errors import NotFound, TicketError
from hub.tickets.models import PRIORITIES, PRIORITY_BY_NAME, STATUSES, Team, Ticket, TicketEvent, TicketMessage
from hub.tickets.sla import window_closes_at
from hub.tickets.work import WINDOW_CHANNELS

MAX_LIMIT = 200
SORTS = ("newest", "oldest", "priority")
_NUMBER = re.compile(r"^#?(\d{1,12})$")


def list_tickets(source: HubState | Session, *, status: str | Sequence[str] | None = None,
                 assignee_id: int | None = None, team_id: int | None = None, unassigned: bool | None = None,
                 fan_id: int | None = None, priority: int | str | None = None, q: str | None = None,
                 sort: str = "newest", limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """One page of tickets and how many match: (items, total), newest first unless `sort` says otherwise.

    `status` takes one status, several, or "open,assigned"; `unassigned=True` keeps tickets nobody holds; `q`
    matches the subject, the fan's name or the ticket number ("#12")."""
    if not 1 <= limit <= MAX_LIMIT:
        raise TicketError(f"limit is from 1 to {MAX_LIMIT}")
    if offset < 0:
        raise TicketError("offset is 0 or more")
    if sort not in SORTS:
        raise TicketError(f"sort is one of {', '.join(SORTS)}, not {sort!r}")
    conditions = _conditions(status=status, assignee_id=assignee_id, team_id=team_id, unassigned=unassigned,
                             fan_id=fan_id, priority=priority, q=q)
    order = {"newest": (col(Ticket.id).desc(),), "oldest": (col(Ticket.id),),
             "priority": (col(Ticket.priority).desc(), col(Ticket.created_at), col(Ticket.id))}[sort]
    with _session(source) as session:
        rows = session.exec(_rows().where(*conditions).order_by(*order).limit(limit).offset(offset)).all()
        if len(rows) < limit and (rows or not offset):  # the last page: no need to count (a search scans)
            total = offset + len(rows)
        else:
            total = session.exec(select(func.count()).select_from(Ticket).where(*conditions)).one()
        return [ticket_dict(*row) for row in rows], int(total)


def all_tickets(source: HubState | Session, status: str | None = None) -> list[dict[str, Any]]:
    """Every ticket (of one status), oldest first: `hub tickets list`."""
    with _session(source) as session:
        rows = session.exec(_rows().where(*_conditions(status=status)).order_by(col(Ticket.id))).all()
        return [ticket_dict(*row) for row in rows]


def ticket_detail(session: Session, ticket_id: int) -> dict[str, Any]:
    """One ticket: its fields, its fan, its conversation (with each delivery's outcome) and its event log."""
    row = session.exec(_rows().where(Ticket.id == ticket_id)).first()
    if row is None:
        raise NotFound(f"no ticket {ticket_id}")
    detail = ticket_dict(*row)
    detail["messages"] = _messages(session, ticket_id)
    detail["events"] = [
        {"id": event.id, "kind": event.kind, "actor_id": event.actor_id, "actor": email, "text": event.text,
         "data": event.data or {}, "created_at": _iso(event.created_at)}
        for event, email in session.exec(
            select(TicketEvent, User.email).join(User, col(User.id) == TicketEvent.actor_id, isouter=True)
            .where(TicketEvent.ticket_id == ticket_id).order_by(col(TicketEvent.id))).all()
    ]
    return detail


def ticket_dict(ticket: Ticket, assignee: str | None, team: str | None, fan_name: str | None,
                account_channel: str | None) -> dict[str, Any]:
    channel = ticket.channel or account_channel or ""
    window = window_closes_at(ticket) if channel in WINDOW_CHANNELS else None
    return {
        "id": ticket.id, "fan": ticket.fan_id, "fan_name": fan_name or "", "account_id": ticket.account_id,
        "status": ticket.status, "assignee": assignee, "assignee_id": ticket.assignee_id, "team": team,
        "team_id": ticket.team_id, "priority": PRIORITIES.get(ticket.priority, str(ticket.priority)),
        "intent": ticket.intent, "subject": ticket.subject, "channel": channel, "source": ticket.source,
        "reason": ticket.reason, "candidates": ticket.candidates or [],
        "first_response_due": _iso(ticket.first_response_due), "resolution_due": _iso(ticket.resolution_due),
        "first_response_at": _iso(ticket.first_response_at),
        "first_response_breached_at": _iso(ticket.first_response_breached_at),
        "resolution_breached_at": _iso(ticket.resolution_breached_at), "escalated_at": _iso(ticket.escalated_at),
        "last_fan_message_at": _iso(ticket.last_fan_message_at), "window_closes_at": _iso(window),
        "csat_score": ticket.csat_score, "csat_comment": ticket.csat_comment,
        "merged_into_id": ticket.merged_into_id, "created_at": _iso(ticket.created_at),
        "updated_at": _iso(ticket.updated_at), "resolved_at": _iso(ticket.resolved_at),
        "closed_at": _iso(ticket.closed_at),
    }


def _rows() -> Any:
    return (select(Ticket, User.email, Team.name, Fan.display_name, Account.channel)
            .join(Fan, col(Fan.id) == Ticket.fan_id)
            .join(Account, col(Account.id) == Ticket.account_id)
            .join(User, col(User.id) == Ticket.assignee_id, isouter=True)
            .join(Team, col(Team.id) == Ticket.team_id, isouter=True))


def _conditions(*, status: str | Sequence[str] | None = None, assignee_id: int | None = None,
                team_id: int | None = None, unassigned: bool | None = None, fan_id: int | None = None,
                priority: int | str | None = None, q: str | None = None) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if status:
        wanted = [s.strip() for s in (status.split(",") if isinstance(status, str) else status) if s.strip()]
        unknown = [s for s in wanted if s not in STATUSES]
        if unknown:
            raise TicketError(f"status is one of {', '.join(STATUSES)}, not {unknown[0]!r}")
        out.append(col(Ticket.status).in_(wanted) if len(wanted) > 1 else col(Ticket.status) == wanted[0])
    if assignee_id is not None:
        out.append(col(Ticket.assignee_id) == assignee_id)
    if unassigned is not None:
        out.append(col(Ticket.assignee_id).is_(None) if unassigned else col(Ticket.assignee_id).is_not(None))
    if team_id is not None:
        out.append(col(Ticket.team_id) == team_id)
    if fan_id is not None:
        out.append(col(Ticket.fan_id) == fan_id)
    if priority is not None:
        out.append(col(Ticket.priority) == _priority(priority))
    if q is not None and q.strip():
        out.append(_search(q.strip()))
    return out


def _priority(priority: int | str) -> int:
    if isinstance(priority, str) and not priority.strip().isdigit():
        number = PRIORITY_BY_NAME.get(priority.strip().lower())
    else:
        number = int(priority) if int(priority) in PRIORITIES else None
    if number is None:
        raise TicketError(f"priority is one of {', '.join(PRIORITY_BY_NAME)}, not {priority!r}")
    return number


def _search(q: str) -> ColumnElement[bool]:
    if q.startswith("#") and (number := _NUMBER.match(q)):  # "#12" is the ticket number, nothing else
        return col(Ticket.id) == int(number.group(1))
    like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    matches = [col(Ticket.subject).ilike(like, escape="\\"),
               col(Ticket.fan_id).in_(select(Fan.id).where(col(Fan.display_name).ilike(like, escape="\\")))]
    number = _NUMBER.match(q)
    if number:
        matches.append(col(Ticket.id) == int(number.group(1)))
    return or_(*matches)


def _messages(session: Session, ticket_id: int) -> list[dict[str, Any]]:
    """The ticket's messages, and the answers (a bot's hand-off note, a survey's thanks) to its fan messages that
    belong to no ticket themselves, in order."""
    linked = select(TicketMessage.message_id).where(TicketMessage.ticket_id == ticket_id)
    own = session.exec(select(Message).where(col(Message.id).in_(linked))).all()
    answers = session.exec(select(Message).where(
        col(Message.reply_to_id).in_(linked), Message.direction == OUT,
        ~exists().where(col(TicketMessage.message_id) == Message.id))).all()
    messages = sorted({m.id: m for m in [*own, *answers]}.values(), key=lambda m: m.id or 0)
    agent_ids = {int(m.source[6:]) for m in messages if _agent_source(m.source)}
    emails = dict(session.exec(select(User.id, User.email).where(col(User.id).in_(agent_ids))).all()) \
        if agent_ids else {}
    return [_message_dict(m, emails) for m in messages]


def _message_dict(message: Message, emails: dict[int, str]) -> dict[str, Any]:
    agent = int(message.source[6:]) if _agent_source(message.source) else None
    if message.direction == IN:
        source = "fan"
    elif agent is not None:
        source = "agent"
    elif message.source == "csat":
        source = "csat"
    else:
        source = "bot"
    return {
        "id": message.id, "direction": message.direction, "kind": message.kind, "text": message.text,
        "event": message.event, "source": source, "bot": message.source if source == "bot" else None,
        "agent_id": agent, "agent": emails.get(agent) if agent is not None else None, "via": message.via,
        "status": message.status, "error_code": message.error_code, "error_message": message.error_message,
        "attempts": message.attempts, "sent_at": _iso(message.sent_at),
    }


def _agent_source(source: str) -> bool:
    return source.startswith("agent:") and source[6:].isdigit()


def _iso(moment: datetime | None) -> str | None:
    return as_utc(moment).isoformat() if moment is not None else None


@contextmanager
def _session(source: HubState | Session) -> Iterator[Session]:
    if isinstance(source, Session):
        yield source
        return
    with Session(source.engine) as session:
        yield session
