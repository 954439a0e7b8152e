"""A fan's tickets when fans are merged or an identity is split off (hub.conversation.identity orchestrates;
these functions only write, inside the caller's transaction). Satisfaction scores live on the tickets, so
they follow them.

Merge: every ticket of the merged fan moves to the kept one. Where both have an active ticket (on one account or on
two: a person has one active ticket, the partial unique index allows one), the two are folded together with the
ticket merge (lifecycle.merge): the one a person holds (assigned or waiting) is kept, else the older; the other is
closed into it with its messages and events.

Split: the tickets on the identity's account go with the identity to the new fan. When the old fan has other
identities on that account too, only the tickets whose first message came from the split identity go.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from hub.core.config import Config
from hub.core.models import Message
from hub.tickets.effects import Effects
from hub.tickets.lifecycle import lock_ticket, log_event, merge
from hub.tickets.models import ACTIVE, ASSIGNED, WAITING, Ticket


def _keeper(first: Ticket, second: Ticket) -> tuple[Ticket, Ticket]:
    """(target, source): the ticket a person holds wins, else the older one."""
    held = [t for t in (first, second) if t.status in (ASSIGNED, WAITING)]
    target = held[0] if len(held) == 1 else min(first, second, key=lambda t: t.id or 0)
    return target, second if target is first else first


def merge_fan_tickets(session: Session, config: Config, keep_id: int, other_id: int, actor_id: int | None,
                      fx: Effects) -> dict[str, Any]:
    """Move `other`'s tickets to `keep`, merging their two active ones into one. Returns what happened."""
    active = session.exec(select(Ticket).where(col(Ticket.fan_id).in_([keep_id, other_id]),
                                               col(Ticket.status).in_(ACTIVE)).order_by(col(Ticket.id))).all()
    moving = session.exec(select(Ticket.id).where(Ticket.fan_id == other_id)).all()
    merged: list[dict[str, int]] = []
    if len(active) == 2:  # one active ticket per person: the two fans' conversations become one
        first, second = (lock_ticket(session, ticket.id) for ticket in active)  # type: ignore[arg-type]
        if first.status in ACTIVE and second.status in ACTIVE:  # else one was resolved meanwhile: both just move
            target, source = _keeper(first, second)
            with session.no_autoflush:
                # The ticket merge folds one fan's tickets: the source is closed in the same UPDATE that gives it
                # the target's fan, so the one-active-ticket index never sees two. The bulk move below does the rest.
                source.fan_id = target.fan_id
                merge(session, config, source, target, actor_id, fx)
            merged.append({"source": source.id or 0, "target": target.id or 0})
    session.execute(update(Ticket).where(col(Ticket.fan_id) == other_id).values(fan_id=keep_id))
    for ticket_id in moving:
        fx.changed(ticket_id, "ticket.fan", fan_id=keep_id)
    return {"moved": len(moving), "merged": merged}


def split_fan_tickets(session: Session, from_id: int, new_id: int, identity_id: int, account_id: int,
                      whole_account: bool, actor_id: int | None, fx: Effects) -> list[int]:
    """Move the tickets that belong to the split identity to the new fan. Returns their ids."""
    query = select(Ticket).where(Ticket.fan_id == from_id, Ticket.account_id == account_id)
    tickets = session.exec(query.order_by(col(Ticket.id))).all()
    if not whole_account:
        firsts = {t.first_message_id for t in tickets if t.first_message_id}
        own = set(session.exec(select(Message.id).where(
            col(Message.id).in_(firsts), Message.identity_id == identity_id)).all()) if firsts else set()
        tickets = [t for t in tickets if t.first_message_id in own]
    ids = [t.id for t in tickets if t.id is not None]
    if ids:
        session.execute(update(Ticket).where(col(Ticket.id).in_(ids)).values(fan_id=new_id))
    for ticket in tickets:
        log_event(session, ticket, "fan_split", actor_id, old_fan=from_id, new_fan=new_id, identity_id=identity_id)
        fx.changed(ticket.id or 0, "ticket.fan", fan_id=new_id)
    return ids


def ticket_counts(session: Session, fan_id: int) -> dict[str, int]:
    total = session.scalar(select(func.count()).select_from(Ticket).where(Ticket.fan_id == fan_id)) or 0
    active = session.scalar(select(func.count()).select_from(Ticket).where(
        Ticket.fan_id == fan_id, col(Ticket.status).in_(ACTIVE))) or 0
    return {"tickets": int(total), "tickets_active": int(active)}
