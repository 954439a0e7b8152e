"""A ticket's life: opened (or joined, or reopened) for a fan, its states, its event log, merging.

Every change starts with `lock_ticket`: a no-op UPDATE of the ticket's row, which on PostgreSQL locks the row
and on SQLite takes the writer lock, so what is read next stays true until the commit. Agent rows are locked
after ticket rows, in id order (hub.tickets.routing), so concurrent changes never deadlock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from hub.core.config import Config
from hub.core.models import as_utc, utcnow
from hub.tickets.effects import Effects
from hub.tickets.errors import Conflict, NotFound
from hub.tickets.models import (
    ACTIVE,
    ASSIGNED,
    CLOSED,
    OPEN,
    RESOLVED,
    WAITING,
    Agent,
    Ticket,
    TicketEvent,
    TicketMessage,
)

SUBJECT_CHARS = 60


def lock_ticket(session: Session, ticket_id: int) -> Ticket:
    touched = session.execute(update(Ticket).where(col(Ticket.id) == ticket_id).values(id=Ticket.id)).rowcount
    if not touched:
        raise NotFound(f"no ticket {ticket_id}")
    ticket = session.get(Ticket, ticket_id, populate_existing=True)
    assert ticket is not None
    return ticket


def log_event(session: Session, ticket: Ticket, kind: str, actor_id: int | None = None, text: str = "",
              **data: object) -> TicketEvent:
    event = TicketEvent(ticket_id=ticket.id, kind=kind, actor_id=actor_id, text=text, data=data)
    session.add(event)
    return event


def link_message(session: Session, ticket_id: int, message_id: int) -> None:
    if session.get(TicketMessage, message_id) is None:
        session.add(TicketMessage(message_id=message_id, ticket_id=ticket_id))


def active_ticket(session: Session, fan_id: int) -> Ticket | None:
    """The fan's one active ticket, whichever account it was opened on (a person has one conversation)."""
    return session.exec(select(Ticket).where(Ticket.fan_id == fan_id, col(Ticket.status).in_(ACTIVE))).first()


def subject_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= SUBJECT_CHARS else line[: SUBJECT_CHARS - 1] + "…"


def sla_targets(config: Config, priority: int, start: datetime) -> tuple[datetime, datetime]:
    """When the first response and the resolution are due for a ticket of this priority opened at `start`."""
    index = max(1, min(4, priority)) - 1
    return (start + timedelta(minutes=config.sla_first_response[index]),
            start + timedelta(hours=config.sla_resolution[index]))


@dataclass
class Opening:
    """What the pipeline, an agent or the API knows when a ticket is opened for a fan."""

    account_id: int
    fan_id: int
    channel: str = ""
    message_id: int | None = None  # the fan's message that caused it
    text: str = ""  # that message's text (the subject)
    intent: str | None = None
    reason: str = ""
    candidates: list = field(default_factory=list)
    priority: int = 2
    team_id: int | None = None
    source: str = "bot"  # bot | agent | api
    fan_message_at: datetime | None = None  # when the fan last wrote (the 48-hour window)


def open_or_join(session: Session, config: Config, opening: Opening, fx: Effects,
                 actor_id: int | None = None) -> tuple[Ticket, str]:
    """The fan's active ticket, with this message on it: joined, reopened (resolved within the reopen time) or
    opened. Returns (ticket, "joined" | "reopened" | "opened"). Two hand-offs at once: the partial unique index
    lets one insert win; the other joins its ticket."""
    now = utcnow()
    ticket = active_ticket(session, opening.fan_id)
    if ticket is not None:
        return _join(session, lock_ticket(session, ticket.id), opening, fx, now), "joined"
    reopen_after = now - timedelta(minutes=config.ticket_reopen_minutes)
    recent = session.exec(
        select(Ticket).where(Ticket.fan_id == opening.fan_id, Ticket.status == RESOLVED,
                             col(Ticket.resolved_at) >= reopen_after)
        .order_by(col(Ticket.resolved_at).desc())
    ).first()
    if recent is not None and opening.source == "bot":
        ticket = lock_ticket(session, recent.id)
        if ticket.status == RESOLVED and _reopen(session, config, ticket, fx, actor_id, "the fan wrote again", now):
            return _join(session, ticket, opening, fx, now), "reopened"
    first_due, resolution_due = sla_targets(config, opening.priority, now)
    ticket = Ticket(
        account_id=opening.account_id, fan_id=opening.fan_id, channel=opening.channel, status=OPEN,
        priority=opening.priority, subject=subject_from(opening.text), intent=opening.intent,
        source=opening.source, reason=opening.reason[:200], team_id=opening.team_id,
        first_message_id=opening.message_id, last_message_id=opening.message_id,
        candidates=list(opening.candidates), first_response_due=first_due, resolution_due=resolution_due,
        last_fan_message_at=opening.fan_message_at, created_at=now, updated_at=now,
    )
    nested = session.begin_nested()
    try:
        session.add(ticket)
        session.flush()
        nested.commit()
    except IntegrityError:  # another hand-off opened the fan's ticket a moment ago: join it
        nested.rollback()
        existing = active_ticket(session, opening.fan_id)
        if existing is None:
            raise
        return _join(session, lock_ticket(session, existing.id), opening, fx, now), "joined"
    if opening.message_id is not None:
        link_message(session, ticket.id, opening.message_id)
    log_event(session, ticket, "opened", actor_id, source=opening.source, reason=opening.reason[:200],
              priority=opening.priority, team_id=opening.team_id)
    fx.route.add(ticket.id)
    fx.changed(ticket.id, "ticket.opened", fan_id=ticket.fan_id)
    return ticket, "opened"


def _join(session: Session, ticket: Ticket, opening: Opening, fx: Effects, now: datetime) -> Ticket:
    if opening.message_id is not None:
        link_message(session, ticket.id, opening.message_id)
        ticket.last_message_id = opening.message_id
    if opening.fan_message_at is not None:
        ticket.last_fan_message_at = max(filter(None, (ticket.last_fan_message_at, opening.fan_message_at)))
    if opening.candidates:
        ticket.candidates = list(opening.candidates)
    ticket.intent = ticket.intent or opening.intent
    if opening.priority > ticket.priority:
        log_event(session, ticket, "priority", None, old=ticket.priority, new=opening.priority)
        ticket.priority = opening.priority
    if ticket.status == WAITING and opening.message_id is not None:  # the fan answered: back to the agent
        _leave_waiting(ticket, now)
        ticket.status = ASSIGNED
        log_event(session, ticket, "status", None, old=WAITING, new=ASSIGNED, why="the fan replied")
    ticket.updated_at = now
    session.add(ticket)
    fx.changed(ticket.id, "ticket.message", fan_id=ticket.fan_id, assignee_id=ticket.assignee_id,
               message_id=opening.message_id)
    return ticket


# Who may move a ticket where (the API answers 409 with the reason otherwise).
MOVES: dict[str, tuple[str, ...]] = {  # in the order a console offers them
    OPEN: (RESOLVED,),
    ASSIGNED: (WAITING, RESOLVED),
    WAITING: (ASSIGNED, RESOLVED),
    RESOLVED: (OPEN, CLOSED),
    CLOSED: (),
}


def set_status(session: Session, config: Config, ticket: Ticket, new: str, actor_id: int | None,
               fx: Effects, why: str = "") -> None:
    """Move a locked ticket to `new` (waiting, assigned, resolved, closed, or open to reopen it); `why` goes into
    the event ("auto-closed"). Resolving it asks the fan for a satisfaction score (a job: hub.tickets.jobs.survey)."""
    old = ticket.status
    if new == old:
        return
    if new not in MOVES.get(old, ()):
        if old == CLOSED:
            raise Conflict(f"ticket {ticket.id} is closed; closed tickets stay closed (open a new one)")
        if new == WAITING:
            raise Conflict(f"ticket {ticket.id} is {old}: only an assigned ticket can wait on the fan")
        raise Conflict(f"ticket {ticket.id} cannot go from {old} to {new}")
    now = utcnow()
    if new == OPEN:  # reopen
        _reopen(session, config, ticket, fx, actor_id, "reopened by an agent", now)
        return
    if old == WAITING:
        _leave_waiting(ticket, now)
    if new == WAITING:
        ticket.paused_at = now
    if new in (RESOLVED, CLOSED):
        release_agent(session, ticket, fx)
    if new == RESOLVED:
        ticket.resolved_at = now
    if new == CLOSED:
        ticket.closed_at = now
    ticket.status = new
    ticket.updated_at = now
    session.add(ticket)
    log_event(session, ticket, "status", actor_id, old=old, new=new, **({"why": why} if why else {}))
    fx.changed(ticket.id, "ticket.status", status=new, assignee_id=ticket.assignee_id)
    if new == RESOLVED:
        fx.resolved.append(ticket.id)  # the satisfaction survey: a job once this commits (hub.tickets.csat)


def _reopen(session: Session, config: Config, ticket: Ticket, fx: Effects, actor_id: int | None, why: str,
            now: datetime) -> bool:
    """A resolved ticket back to open, routed again (its last agent first). False when the fan already has
    another active ticket (the unique index): the caller joins that one instead."""
    nested = session.begin_nested()
    try:
        session.execute(update(Ticket).where(col(Ticket.id) == ticket.id).values(status=OPEN))
        nested.commit()
    except IntegrityError:
        nested.rollback()
        if actor_id is not None:
            raise Conflict(f"the fan already has an active ticket; ticket {ticket.id} cannot be reopened") from None
        return False
    ticket.status = OPEN
    ticket.resolved_at = None
    ticket.assignee_id = None
    ticket.updated_at = now
    _, ticket.resolution_due = sla_targets(config, ticket.priority, now)
    ticket.resolution_breached_at = None
    ticket.sla_warned = [w for w in ticket.sla_warned or [] if w != "resolution"]
    session.add(ticket)
    log_event(session, ticket, "reopened", actor_id, why=why)
    fx.route.add(ticket.id)
    fx.changed(ticket.id, "ticket.status", status=OPEN)
    return True


def _leave_waiting(ticket: Ticket, now: datetime) -> None:
    """The SLA clock was paused while the ticket waited on the fan: its due times move by the pause."""
    if ticket.paused_at is not None:
        paused = now - as_utc(ticket.paused_at)
        if ticket.first_response_at is None and ticket.first_response_due is not None:
            ticket.first_response_due = as_utc(ticket.first_response_due) + paused
        if ticket.resolution_due is not None:
            ticket.resolution_due = as_utc(ticket.resolution_due) + paused
    ticket.paused_at = None


def release_agent(session: Session, ticket: Ticket, fx: Effects) -> None:
    """The ticket stops counting against its agent's capacity (resolved, closed, unassigned, transferred)."""
    if ticket.status in (ASSIGNED, WAITING) and ticket.assignee_id is not None:
        session.execute(update(Agent).where(col(Agent.user_id) == ticket.assignee_id, col(Agent.load) > 0)
                        .values(load=Agent.load - 1))
        fx.wake = True


def unassign(session: Session, ticket: Ticket, actor_id: int | None, fx: Effects, why: str) -> None:
    """Back to the queue: open and routed again (used when an agent goes offline or hands a ticket back)."""
    if ticket.status not in (ASSIGNED, WAITING):
        raise Conflict(f"ticket {ticket.id} is {ticket.status}: only an assigned ticket can be handed back")
    release_agent(session, ticket, fx)
    old_agent = ticket.assignee_id
    if ticket.status == WAITING:
        _leave_waiting(ticket, utcnow())
    ticket.status, ticket.assignee_id, ticket.updated_at = OPEN, None, utcnow()
    session.add(ticket)
    log_event(session, ticket, "unassigned", actor_id, agent_id=old_agent, why=why)
    fx.route.add(ticket.id)
    fx.changed(ticket.id, "ticket.unassigned", agent_id=old_agent)


def merge(session: Session, config: Config, source: Ticket, target: Ticket, actor_id: int | None,
          fx: Effects) -> None:
    """Fold `source` into `target` (one fan's two tickets): its messages and events move, it is closed. A person
    was handling the fan on `source`: a resolved `target` is reopened, so someone still is."""
    if source.id == target.id:
        raise Conflict("a ticket cannot be merged into itself")
    if source.fan_id != target.fan_id:
        raise Conflict(f"tickets {source.id} and {target.id} belong to different fans; only one fan's tickets merge")
    if CLOSED in (source.status, target.status):
        raise Conflict("closed tickets cannot be merged")
    session.execute(update(TicketMessage).where(col(TicketMessage.ticket_id) == source.id)
                    .values(ticket_id=target.id))
    session.execute(update(TicketEvent).where(col(TicketEvent.ticket_id) == source.id)
                    .values(ticket_id=target.id))
    was_active = source.status in ACTIVE
    release_agent(session, source, fx)
    now = utcnow()
    source.status, source.merged_into_id, source.closed_at, source.updated_at = CLOSED, target.id, now, now
    session.add(source)
    session.flush()
    target.priority = max(target.priority, source.priority)
    target.first_message_id = min(filter(None, (target.first_message_id, source.first_message_id)), default=None)
    target.last_message_id = max(filter(None, (target.last_message_id, source.last_message_id)), default=None)
    target.updated_at = now
    session.add(target)
    log_event(session, target, "merged", actor_id, source_id=source.id)
    log_event(session, source, "merged", actor_id, into=target.id)
    if was_active and target.status == RESOLVED:
        _reopen(session, config, target, fx, actor_id, f"ticket {source.id} was merged into it", now)
    fx.changed(target.id, "ticket.merged", source_id=source.id)
