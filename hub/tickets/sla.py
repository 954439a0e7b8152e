"""The tickets' clock, checked by the periodic tick (hub.tickets.jobs.tick): SLA warnings and breaches, the
escalation of a ticket nobody takes, the warning before the fan's 48-hour WeChat window closes, auto-close.

Targets per priority are set when a ticket opens (lifecycle.sla_targets) and move forward while it waits on the
fan (lifecycle._leave_waiting), so waiting tickets are skipped here. Each warning, breach and escalation is
recorded once: `sla_warned` names the warnings given, the *_breached_at and escalated_at columns the rest.
A breach is recorded at its due time (when the target was missed), whenever the tick noticed it.
Escalation keeps the due times: it raises the priority (the queue order) and tells someone who can act.
The window warning goes to the ticket's agent, also while the ticket waits on the fan (a follow-up must go out
before the window closes); once per window: when the fan writes again, the new window gets its own warning.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from hub.core.config import Config
from hub.core.models import as_utc
from hub.tickets.effects import Effects
from hub.tickets.lifecycle import lock_ticket, log_event, set_status
from hub.tickets.models import (
    ASSIGNED,
    CLOSED,
    OPEN,
    PRIORITIES,
    RESOLVED,
    URGENT,
    WAITING,
    Ticket,
    TicketEvent,
)
from hub.tickets.notify import lead_or_admins, notify, responsible

WINDOW = timedelta(hours=48)  # WeChat's customer-service window, from the fan's last message
FIRST, RESOLUTION, WINDOW_WARNED = "first_response", "resolution", "window"
PRIORITY_ZH = {1: "低", 2: "普通", 3: "高", 4: "紧急"}
TARGET_ZH = {FIRST: "首次响应", RESOLUTION: "解决"}
BATCH = 200  # tickets acted on per check; the next tick takes the rest


def window_closes_at(ticket: Ticket) -> datetime | None:
    """When the fan's 48-hour customer-service window closes (None: the fan has not written)."""
    return as_utc(ticket.last_fan_message_at) + WINDOW if ticket.last_fan_message_at else None


def _length(config: Config, which: str, priority: int) -> timedelta:
    index = max(1, min(URGENT, priority)) - 1
    if which == FIRST:
        return timedelta(minutes=config.sla_first_response[index])
    return timedelta(hours=config.sla_resolution[index])


def _warn_margin(config: Config, which: str, priority: int) -> timedelta:
    """How long before the due time the warning comes (the last 100 - sla_warn_percent % of the target)."""
    return _length(config, which, priority) * (max(0, 100 - config.sla_warn_percent) / 100)


def check(session: Session, config: Config, now: datetime, fx: Effects, limit: int = BATCH) -> dict[str, int]:
    """Warn, record breaches, escalate and warn of closing windows, each once; returns what was done."""
    counts = {"warnings": 0, "breaches": 0, "escalated": 0, "window_warnings": 0}
    due = [t.id for t in _candidates(session, config, now) if _due_actions(session, config, t, now)]
    for ticket_id in due[:limit]:
        ticket = lock_ticket(session, ticket_id)  # the actions are decided again on the locked row
        for action in _due_actions(session, config, ticket, now):
            action(session, config, ticket, now, fx, counts)
        session.add(ticket)
    return counts


def _candidates(session: Session, config: Config, now: datetime) -> list[Ticket]:
    """Active tickets with something due soon (a superset: `_due_actions` decides), oldest first."""
    first_soon = now + max(_warn_margin(config, FIRST, p) for p in PRIORITIES)
    resolution_soon = now + max(_warn_margin(config, RESOLUTION, p) for p in PRIORITIES)
    window_soon = now - WINDOW + timedelta(minutes=config.window_warn_minutes)
    running = col(Ticket.status).in_((OPEN, ASSIGNED))
    query = select(Ticket).where(or_(
        and_(running, col(Ticket.first_response_at).is_(None), col(Ticket.first_response_breached_at).is_(None),
             col(Ticket.first_response_due) <= first_soon),
        and_(running, col(Ticket.resolution_breached_at).is_(None), col(Ticket.resolution_due) <= resolution_soon),
        and_(Ticket.status == OPEN, col(Ticket.escalated_at).is_(None), col(Ticket.first_response_at).is_(None),
             col(Ticket.first_response_due) <= now),
        and_(col(Ticket.status).in_((ASSIGNED, WAITING)), col(Ticket.last_fan_message_at) <= window_soon,
             col(Ticket.last_fan_message_at) > now - WINDOW),
    )).order_by(col(Ticket.id))
    return list(session.exec(query).all())


def _due_actions(session: Session, config: Config, ticket: Ticket, now: datetime) -> list:  # type: ignore[type-arg]
    actions = []
    if ticket.status in (OPEN, ASSIGNED):  # WAITING: the clock is paused
        if ticket.first_response_at is None and _target_due(config, ticket, FIRST, now):
            actions.append(_first_response)
        if _target_due(config, ticket, RESOLUTION, now):
            actions.append(_resolution)
        if (ticket.status == OPEN and ticket.escalated_at is None and ticket.first_response_at is None
                and ticket.first_response_due is not None and as_utc(ticket.first_response_due) <= now):
            actions.append(_escalate)
    if ticket.status in (ASSIGNED, WAITING) and ticket.assignee_id is not None and _window_due(session, config,
                                                                                              ticket, now):
        actions.append(_window)
    return actions


def _target_due(config: Config, ticket: Ticket, which: str, now: datetime) -> bool:
    due = getattr(ticket, f"{which}_due")
    if due is None or getattr(ticket, f"{which}_breached_at") is not None:
        return False
    due = as_utc(due)
    return now >= due or (which not in (ticket.sla_warned or []) and
                          now >= due - _warn_margin(config, which, ticket.priority))


def _first_response(session: Session, config: Config, ticket: Ticket, now: datetime, fx: Effects,
                    counts: dict[str, int]) -> None:
    _target(session, config, ticket, FIRST, now, fx, counts)


def _resolution(session: Session, config: Config, ticket: Ticket, now: datetime, fx: Effects,
                counts: dict[str, int]) -> None:
    _target(session, config, ticket, RESOLUTION, now, fx, counts)


def _target(session: Session, config: Config, ticket: Ticket, which: str, now: datetime, fx: Effects,
            counts: dict[str, int]) -> None:
    due = as_utc(getattr(ticket, f"{which}_due"))
    warned = list(ticket.sla_warned or [])
    label = TARGET_ZH[which]
    if now >= due:
        setattr(ticket, f"{which}_breached_at", due)
        if which not in warned:  # no warning after the breach
            ticket.sla_warned = [*warned, which]
        log_event(session, ticket, "sla_breach", None, target=which, due=due.isoformat())
        escalating = which == FIRST and ticket.status == OPEN and ticket.escalated_at is None
        if not escalating:  # the escalation's notification says it
            notify(session, responsible(session, ticket), ticket, "sla_breach",
                   f"工单 #{ticket.id} 已超出{label}时限", fx)
        counts["breaches"] += 1
    else:
        ticket.sla_warned = [*warned, which]
        log_event(session, ticket, "sla_warning", None, target=which, due=due.isoformat())
        notify(session, responsible(session, ticket), ticket, "sla_warning",
               f"工单 #{ticket.id} 即将超出{label}时限（剩余约 {_minutes(due - now)} 分钟）", fx)
        counts["warnings"] += 1
    fx.changed(ticket.id, "ticket.sla", target=which, breached=now >= due)


def _escalate(session: Session, config: Config, ticket: Ticket, now: datetime, fx: Effects,
              counts: dict[str, int]) -> None:
    """Nobody took the ticket within its first-response target: priority up, the lead told, routed again."""
    old = ticket.priority
    ticket.priority = min(URGENT, old + 1)
    ticket.escalated_at = ticket.updated_at = now
    log_event(session, ticket, "escalated", None, old=old, new=ticket.priority,
              why="nobody took the ticket within its first-response target")
    notify(session, lead_or_admins(session, ticket.team_id), ticket, "escalated",
           f"工单 #{ticket.id} 超出首次响应时限仍无人接手，已升级为「{PRIORITY_ZH[ticket.priority]}」优先级", fx)
    fx.route.add(ticket.id)
    fx.changed(ticket.id, "ticket.escalated", priority=ticket.priority)
    counts["escalated"] += 1


def _window_due(session: Session, config: Config, ticket: Ticket, now: datetime) -> bool:
    closes = window_closes_at(ticket)
    if closes is None or not closes - timedelta(minutes=config.window_warn_minutes) <= now < closes:
        return False
    if WINDOW_WARNED not in (ticket.sla_warned or []):
        return True
    # Warned before: again only when the fan wrote since, which opened a new window.
    last = session.exec(select(TicketEvent.data).where(TicketEvent.ticket_id == ticket.id,
                                                       TicketEvent.kind == "window_warning")
                        .order_by(col(TicketEvent.id).desc()).limit(1)).first()
    return bool(last) and last.get("closes_at") != closes.isoformat()


def _window(session: Session, config: Config, ticket: Ticket, now: datetime, fx: Effects,
            counts: dict[str, int]) -> None:
    closes = window_closes_at(ticket)
    assert closes is not None
    if WINDOW_WARNED not in (ticket.sla_warned or []):
        ticket.sla_warned = [*(ticket.sla_warned or []), WINDOW_WARNED]
    log_event(session, ticket, "window_warning", None, closes_at=closes.isoformat())
    notify(session, [ticket.assignee_id], ticket, "window_warning",
           f"工单 #{ticket.id}：粉丝的 48 小时客服消息窗口约 {_minutes(closes - now)} 分钟后关闭，之后将无法回复", fx)
    fx.changed(ticket.id, "ticket.window", closes_at=closes.isoformat())
    counts["window_warnings"] += 1


def _minutes(left: timedelta) -> int:
    return max(1, round(left.total_seconds() / 60))


def auto_close(session: Session, config: Config, now: datetime, fx: Effects, limit: int = BATCH) -> int:
    """Resolved tickets older than ticket_autoclose_days are closed; returns how many."""
    before = now - timedelta(days=config.ticket_autoclose_days)
    ticket_ids = session.exec(select(Ticket.id).where(Ticket.status == RESOLVED, col(Ticket.resolved_at) < before)
                              .order_by(col(Ticket.id)).limit(limit)).all()
    closed = 0
    for ticket_id in ticket_ids:
        ticket = lock_ticket(session, ticket_id)
        if ticket.status == RESOLVED and ticket.resolved_at is not None and as_utc(ticket.resolved_at) < before:
            set_status(session, config, ticket, CLOSED, None, fx, why="auto-closed")
            closed += 1
    return closed

