"""Notifications for console users: something an agent or a team lead must see (an SLA warning or breach, an
escalation, a fan's 48-hour window about to close). Stored as rows (the console lists the unread ones) and
pushed as a live update once the transaction commits (`Effects.live`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from hub.core.models import User, utcnow
from hub.tickets.effects import Effects
from hub.tickets.models import Notification, Team, Ticket

ADMIN = "admin"


def notify(session: Session, user_ids: Iterable[int | None], ticket: Ticket | None, kind: str, text: str,
           fx: Effects) -> list[Notification]:
    """One notification per user (each user once, None skipped)."""
    notes: list[Notification] = []
    for user_id in dict.fromkeys(u for u in user_ids if u is not None):
        note = Notification(user_id=user_id, ticket_id=ticket.id if ticket else None, kind=kind, text=text[:500])
        session.add(note)
        notes.append(note)
    if notes:
        session.flush()
    for note in notes:
        fx.live.append({"type": "notification", **notification_dict(note)})
    return notes


def lead_or_admins(session: Session, team_id: int | None) -> list[int]:
    """Who answers for a team's tickets nobody holds: its lead, or, without one, every active admin."""
    if team_id is not None:
        team = session.get(Team, team_id)
        if team is not None and team.lead_id is not None:
            lead = session.get(User, team.lead_id)
            if lead is not None and lead.active:
                return [lead.id]
    return list(session.exec(select(User.id).where(User.role == ADMIN, col(User.active).is_(True))
                             .order_by(col(User.id))).all())


def responsible(session: Session, ticket: Ticket) -> list[int]:
    """The ticket's agent, or the team lead (or the admins) while nobody holds it."""
    return [ticket.assignee_id] if ticket.assignee_id is not None else lead_or_admins(session, ticket.team_id)


def unread(session: Session, user_id: int, limit: int = 100) -> list[Notification]:
    """The user's unread notifications, newest first."""
    return list(session.exec(select(Notification).where(Notification.user_id == user_id,
                                                        col(Notification.read_at).is_(None))
                             .order_by(col(Notification.id).desc()).limit(limit)).all())


def mark_read(session: Session, user_id: int, ids: Iterable[int] | None = None) -> int:
    """Mark the user's notifications read (these ids, or all of them); how many were unread."""
    query = update(Notification).where(col(Notification.user_id) == user_id, col(Notification.read_at).is_(None))
    if ids is not None:
        query = query.where(col(Notification.id).in_(list(ids)))
    return session.execute(query.values(read_at=utcnow())).rowcount


def notification_dict(note: Notification) -> dict[str, Any]:
    return {"id": note.id, "user_id": note.user_id, "ticket_id": note.ticket_id, "kind": note.kind,
            "text": note.text, "created_at": note.created_at.isoformat() if note.created_at else None,
            "read_at": note.read_at.isoformat() if note.read_at else None}
