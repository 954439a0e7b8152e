"""The conversation beside a ticket: the fan's whole history across channels and accounts (every message of the
fan, newest first in pages, not only the ticket's), each marked with the ticket it belongs to, who wrote it (the
fan, a bot, an agent, the survey) and, for replies, whether WeChat took it; the ticket's internal notes and
other events interleaved by time.

A chunk is one slice of the history: the newest PAGE messages (or those from a given id on, when the page
refreshes itself), or the PAGE before a given id (older pages). Its events are the ticket's events from the
chunk's first message on (all of them when the chunk reaches the fan's first message), up to the next chunk.
Queries: the messages (index fan_id+id), their tickets, the events, the names of the agents, teams and accounts —
a handful, whatever the chunk's size."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from hub.core.models import IN, QUEUED, SENDING, Message, as_utc
from hub.tickets.models import Team, TicketEvent, TicketMessage
from hub.web.agent.present import bot_label
from hub.web.agent.queue import account_zones, user_names

PAGE = 40
REFRESH_MAX = 300  # a refresh of the newest chunk brings at most this many messages
HIDDEN_EVENTS = ("replied", "rerouted")  # shown by the reply itself / by the "unassigned" line next to it
PENDING = (QUEUED, SENDING)


@dataclass
class Chunk:
    items: list[dict[str, Any]] = field(default_factory=list)  # messages and events, oldest first
    first_id: int | None = None  # the oldest message of the chunk
    has_older: bool = False
    pending: bool = False  # a reply of the chunk still waits for its delivery


def history(session: Session, fan_id: int, ticket_id: int, *, before: int | None = None,
            from_id: int | None = None) -> Chunk:
    """One chunk of the fan's history, for the ticket `ticket_id` (whose events it interleaves)."""
    query = select(Message).options(defer(Message.raw)).where(Message.fan_id == fan_id)  # type: ignore[arg-type]
    if before is not None:
        query = query.where(col(Message.id) < before)
    if from_id is not None:
        query = query.where(col(Message.id) >= from_id)
    limit = REFRESH_MAX if from_id is not None else PAGE + 1
    messages = list(session.exec(query.order_by(col(Message.id).desc()).limit(limit)).all())
    has_older = len(messages) > PAGE if from_id is None else False
    if from_id is None:
        messages = messages[:PAGE]
    messages.reverse()
    chunk = Chunk(first_id=messages[0].id if messages else from_id)
    if from_id is not None and chunk.first_id is not None:
        older = select(Message.id).where(Message.fan_id == fan_id, col(Message.id) < chunk.first_id).limit(1)
        has_older = session.exec(older).first() is not None
    chunk.has_older = has_older
    upper = None
    if before is not None:
        upper = session.exec(select(Message.received_at).where(Message.id == before)).first()
    lower = as_utc(messages[0].received_at) if messages and has_older else None
    events = _events(session, ticket_id, lower, as_utc(upper) if upper else None)
    people = {e.actor_id for e in events if e.actor_id} | {
        int(e.data[k]) for e in events for k in ("agent_id", "from_agent")
        if str((e.data or {}).get(k) or "").isdigit()}
    people |= {int(m.source[6:]) for m in messages if _agent(m.source)}
    names = user_names(session, people)
    teams = dict(session.exec(select(Team.id, Team.name)).all())
    views = _message_views(session, messages, ticket_id, names)
    chunk.items = _interleave(views, [_event_view(e, names, teams) for e in events])
    chunk.pending = any(v["outbound"] and v["status"] in PENDING for v in views)
    return chunk


def _events(session: Session, ticket_id: int, lower: datetime | None, upper: datetime | None) -> list[TicketEvent]:
    query = select(TicketEvent).where(TicketEvent.ticket_id == ticket_id,
                                      col(TicketEvent.kind).not_in(HIDDEN_EVENTS))
    if lower is not None:
        query = query.where(col(TicketEvent.created_at) >= lower)
    if upper is not None:
        query = query.where(col(TicketEvent.created_at) < upper)
    return list(session.exec(query.order_by(col(TicketEvent.id))).all())


def _message_views(session: Session, messages: list[Message], ticket_id: int,
                   names: dict[int, str]) -> list[dict[str, Any]]:
    ids = [m.id for m in messages]
    tickets = dict(session.exec(select(TicketMessage.message_id, TicketMessage.ticket_id)
                                .where(col(TicketMessage.message_id).in_(ids))).all()) if ids else {}
    zones = account_zones(session)
    return [_message_view(m, tickets.get(m.id), ticket_id, names, zones.get(m.account_id)) for m in messages]


def _agent(source: str) -> bool:
    return source.startswith("agent:") and source[6:].isdigit()


def _message_view(m: Message, on_ticket: int | None, ticket_id: int, names: dict[int, str],
                  tz: str | None) -> dict[str, Any]:
    meta = m.meta or {}
    if m.direction == IN:
        author, who = "fan", ""
    elif _agent(m.source):
        author, who = "agent", names.get(int(m.source[6:]), m.source)
    elif m.source == "csat":
        author, who = "csat", ""
    else:
        author, who = "bot", bot_label(m.source)
    return {
        "type": "message", "id": m.id, "at": as_utc(m.received_at), "tz": tz, "outbound": m.direction != IN,
        "author": author, "who": who, "kind": m.kind, "text": m.text or "", "event": m.event,
        "event_key": m.event_key, "recognition": meta.get("recognition"), "media_id": meta.get("media_id"),
        "pic_url": safe_url(meta.get("pic_url")), "url": safe_url(meta.get("url")), "title": meta.get("title"),
        "label": meta.get("label"), "status": m.status, "error_code": m.error_code,
        "error_message": m.error_message, "attempts": m.attempts, "via": m.via, "account_id": m.account_id,
        "ticket_id": on_ticket, "this_ticket": on_ticket == ticket_id,
    }


def _event_view(e: TicketEvent, names: dict[int, str], teams: dict[int, str]) -> dict[str, Any]:
    data = dict(e.data or {})

    def name(key: str) -> str:
        value = data.get(key)
        return names.get(int(value), str(value)) if str(value or "").isdigit() else ""

    def team(key: str) -> str:
        value = data.get(key)
        return teams.get(int(value), str(value)) if str(value or "").isdigit() else ""

    return {"type": "event", "id": e.id, "kind": e.kind, "at": as_utc(e.created_at), "tz": None,
            "actor": names.get(e.actor_id, "") if e.actor_id else "", "text": e.text, "data": data,
            "agent": name("agent_id"), "from_agent": name("from_agent"), "to_team": team("to_team"),
            "from_team": team("from_team")}


def _interleave(messages: list[dict[str, Any]], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages in id order with each event placed before the first message stored after it."""
    out: list[dict[str, Any]] = []
    pending = list(events)
    for message in messages:
        while pending and pending[0]["at"] < message["at"]:
            out.append(pending.pop(0))
        out.append(message)
    return out + pending


def safe_url(value: Any) -> str | None:
    """A link the console may show: http(s) only (never javascript: or data:)."""
    if not isinstance(value, str) or not value:
        return None
    parts = urlsplit(value.strip())
    return value.strip() if parts.scheme in ("http", "https") and parts.netloc else None
