"""SLA: a warning before a target is missed and the breach, each recorded once; the clock paused while the
ticket waits on the fan; a ticket nobody takes escalates (priority up, the team lead told, routed again); the
warning before the fan's 48-hour window closes; auto-close; the tick job, scheduled once per period and run by
the worker. Time passes by moving due times into the past, never by sleeping."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select
from werkzeug.security import generate_password_hash

from hub.core.db import session_scope
from hub.core.models import User, as_utc, utcnow
from hub.core.queue import job_id_for
from hub.tickets import Effects, run_effects
from hub.tickets.jobs import TICK_KEY, route_ticket, schedule_tick, tick
from hub.tickets.lifecycle import lock_ticket, set_status
from hub.tickets.models import ASSIGNED, CLOSED, OPEN, RESOLVED, WAITING, Agent, Notification, Team, Ticket, TicketEvent
from hub.tickets.notify import mark_read, unread
from hub.tickets.sla import check, window_closes_at
from tests.support.tickets_setup import check_invariants, fan_message, make_account, make_agent, make_team, open_for


def _ticket(state: Any, ticket_id: int) -> Ticket:
    with Session(state.engine) as session:
        return session.get(Ticket, ticket_id)


def _set(state: Any, ticket_id: int, **values: Any) -> None:
    with session_scope(state.engine) as session:
        session.execute(update(Ticket).where(col(Ticket.id) == ticket_id).values(**values))


def _check(state: Any) -> dict[str, int]:
    fx = Effects()
    with session_scope(state.engine) as session:
        counts = check(session, state.config, utcnow(), fx)
    run_effects(state, fx)
    return counts


def _events(state: Any, ticket_id: int, kind: str) -> list[TicketEvent]:
    with Session(state.engine) as session:
        return list(session.exec(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id,
                                                           TicketEvent.kind == kind)).all())


def _notes(state: Any, user_id: int) -> list[tuple[str, str]]:
    with Session(state.engine) as session:
        return [(n.kind, n.text) for n in session.exec(select(Notification).where(Notification.user_id == user_id)
                                                      .order_by(col(Notification.id))).all()]


def _user(state: Any, email: str, role: str) -> int:
    with session_scope(state.engine) as session:
        user = User(email=email, password_hash=generate_password_hash("password123"), role=role)
        session.add(user)
        session.flush()
        return user.id


def _set_status(state: Any, ticket_id: int, status: str) -> None:
    fx = Effects()
    with session_scope(state.engine) as session:
        set_status(session, state.config, lock_ticket(session, ticket_id), status, None, fx)
    run_effects(state, fx)


def _assigned_ticket(state: Any, worker: Any) -> tuple[int, int]:
    account = make_account(state)
    agent = make_agent(state, "a@x.cn")
    ticket_id, _ = open_for(state, fan_message(state, account, "o1", "人工"))
    worker()
    assert _ticket(state, ticket_id).assignee_id == agent
    return ticket_id, agent


def test_a_warning_before_the_first_response_is_due_comes_once(state: Any, worker: Any) -> None:
    ticket_id, agent = _assigned_ticket(state, worker)
    assert _check(state)["warnings"] == 0  # 60 minutes to go: too early
    _set(state, ticket_id, first_response_due=utcnow() + timedelta(minutes=5))  # 55 of 60 minutes passed (80 %)
    assert _check(state)["warnings"] == 1
    assert _check(state)["warnings"] == 0
    assert "first_response" in _ticket(state, ticket_id).sla_warned
    [event] = _events(state, ticket_id, "sla_warning")
    assert event.data["target"] == "first_response" and event.actor_id is None
    [(kind, text)] = _notes(state, agent)
    assert kind == "sla_warning" and text.startswith(f"工单 #{ticket_id} 即将超出首次响应时限")
    with session_scope(state.engine) as session:
        assert [n.ticket_id for n in unread(session, agent)] == [ticket_id]
        assert mark_read(session, agent) == 1
        assert unread(session, agent) == []


def test_a_breach_is_recorded_once_at_its_due_time(state: Any, worker: Any) -> None:
    ticket_id, agent = _assigned_ticket(state, worker)
    due = utcnow() - timedelta(minutes=3)
    resolution_due = utcnow() - timedelta(minutes=1)
    _set(state, ticket_id, first_response_due=due, resolution_due=resolution_due)
    counts = _check(state)
    assert counts["breaches"] == 2 and counts["warnings"] == 0  # no warning after the fact
    assert _check(state)["breaches"] == 0
    ticket = _ticket(state, ticket_id)
    assert abs(as_utc(ticket.first_response_breached_at) - due) < timedelta(seconds=1)
    assert abs(as_utc(ticket.resolution_breached_at) - resolution_due) < timedelta(seconds=1)
    assert sorted(e.data["target"] for e in _events(state, ticket_id, "sla_breach")) == ["first_response",
                                                                                           "resolution"]
    assert sorted(kind for kind, _ in _notes(state, agent)) == ["sla_breach", "sla_breach"]
    assert _ticket(state, ticket_id).status == ASSIGNED and _events(state, ticket_id, "escalated") == []


def test_a_first_response_in_time_stops_that_clock(state: Any, worker: Any) -> None:
    ticket_id, _ = _assigned_ticket(state, worker)
    _set(state, ticket_id, first_response_at=utcnow(), first_response_due=utcnow() - timedelta(minutes=1))
    assert _check(state)["breaches"] == 0
    assert _ticket(state, ticket_id).first_response_breached_at is None


def test_the_clock_is_paused_while_the_ticket_waits_on_the_fan(state: Any, worker: Any) -> None:
    ticket_id, _ = _assigned_ticket(state, worker)
    _set_status(state, ticket_id, WAITING)
    due = utcnow() - timedelta(minutes=1)
    _set(state, ticket_id, first_response_due=due, resolution_due=due,
         paused_at=utcnow() - timedelta(minutes=30))
    assert _check(state) == {"warnings": 0, "breaches": 0, "escalated": 0, "window_warnings": 0}
    _set_status(state, ticket_id, ASSIGNED)  # the 30 minutes of waiting move the targets
    ticket = _ticket(state, ticket_id)
    assert as_utc(ticket.first_response_due) - due > timedelta(minutes=29)
    assert _check(state)["breaches"] == 0


def test_a_ticket_nobody_takes_escalates_once_and_is_routed_again(state: Any, worker: Any) -> None:
    account = make_account(state)
    team = make_team(state, "售后", ("complaint",))
    lead = _user(state, "lead@x.cn", "agent")
    admin = _user(state, "admin@x.cn", "admin")
    with session_scope(state.engine) as session:
        session.get(Team, team).lead_id = lead
    agent = make_agent(state, "a@x.cn", ("售后",), capacity=0)  # online, but no room
    ticket_id, _ = open_for(state, fan_message(state, account, "o1", "我要投诉"), team_id=team)
    worker()
    assert _ticket(state, ticket_id).status == OPEN
    _set(state, ticket_id, first_response_due=utcnow() - timedelta(seconds=1))
    with session_scope(state.engine) as session:  # room appears without a wake-up: only routing again assigns
        session.execute(update(Agent).where(col(Agent.user_id) == agent).values(capacity=1))
    assert _check(state)["escalated"] == 1
    assert state.queue.fetch_job(job_id_for(route_ticket, ticket_id)) is not None
    worker()
    ticket = _ticket(state, ticket_id)
    assert ticket.priority == 3 and ticket.escalated_at is not None and ticket.first_response_breached_at
    assert ticket.status == ASSIGNED and ticket.assignee_id == agent
    [event] = _events(state, ticket_id, "escalated")
    assert (event.data["old"], event.data["new"]) == (2, 3)
    assert _notes(state, lead) == [("escalated", f"工单 #{ticket_id} 超出首次响应时限仍无人接手，已升级为「高」优先级")]
    assert _notes(state, admin) == []  # the team has a lead
    assert _check(state)["escalated"] == 0
    check_invariants(state)


def test_without_a_team_lead_every_admin_hears_of_the_escalation(state: Any, worker: Any) -> None:
    account = make_account(state)
    admins = [_user(state, f"admin{i}@x.cn", "admin") for i in range(2)]
    operator = _user(state, "op@x.cn", "operator")
    ticket_id, _ = open_for(state, fan_message(state, account, "o1", "人工"), priority=4)
    worker()
    _set(state, ticket_id, first_response_due=utcnow() - timedelta(seconds=1))
    assert _check(state)["escalated"] == 1
    assert _ticket(state, ticket_id).priority == 4  # urgent is the top
    assert [len(_notes(state, a)) for a in admins] == [1, 1] and _notes(state, operator) == []


def test_agents_are_warned_once_before_the_fans_window_closes(state: Any, worker: Any) -> None:
    ticket_id, agent = _assigned_ticket(state, worker)
    fan_at = utcnow() - timedelta(hours=47)
    _set(state, ticket_id, last_fan_message_at=fan_at)
    assert window_closes_at(_ticket(state, ticket_id)) == fan_at + timedelta(hours=48)
    assert _check(state)["window_warnings"] == 1
    assert _check(state)["window_warnings"] == 0
    assert "window" in _ticket(state, ticket_id).sla_warned
    [(kind, text)] = _notes(state, agent)
    assert kind == "window_warning" and "48 小时" in text and "60 分钟" in text
    _set(state, ticket_id, last_fan_message_at=fan_at + timedelta(minutes=30))  # the fan wrote: a new window
    assert _check(state)["window_warnings"] == 1
    _set(state, ticket_id, last_fan_message_at=utcnow() - timedelta(hours=49))  # closed: nothing to warn of
    assert _check(state)["window_warnings"] == 0
    assert window_closes_at(Ticket(account_id=1, fan_id=1)) is None


def test_resolved_tickets_are_closed_after_the_autoclose_days(state: Any, sandbox: Any, worker: Any) -> None:
    account = make_account(state, api_base=sandbox.url)  # resolving sends a survey: never to the real WeChat
    old, _ = open_for(state, fan_message(state, account, "o1", "人工"))
    recent, _ = open_for(state, fan_message(state, account, "o2", "人工"))
    for ticket_id in (old, recent):
        _set_status(state, ticket_id, RESOLVED)
    _set(state, old, resolved_at=utcnow() - timedelta(days=state.config.ticket_autoclose_days, minutes=1))
    state.queue.enqueue_call(tick)
    worker()
    assert _ticket(state, old).status == CLOSED and _ticket(state, recent).status == RESOLVED
    [event] = [e for e in _events(state, old, "status") if e.data["new"] == CLOSED]
    assert event.data["why"] == "auto-closed" and event.actor_id is None


def test_the_tick_is_scheduled_once_per_period_and_run_by_the_worker(state: Any, worker: Any) -> None:
    ticket_id, _ = _assigned_ticket(state, worker)
    _set(state, ticket_id, resolution_due=utcnow() - timedelta(minutes=1))
    assert schedule_tick(state) is True
    assert schedule_tick(state) is False  # within tickets_tick_seconds: once, whichever worker asks
    job = state.queue.fetch_job(job_id_for(tick))
    worker()
    assert "breaches': 1" in job.latest_result().return_value
    assert _ticket(state, ticket_id).resolution_breached_at is not None
    state.redis.delete(TICK_KEY)  # the period has passed
    assert schedule_tick(state) is True


def test_the_sweeper_thread_schedules_the_tick(state: Any) -> None:
    from hub.intake.sweeper import start_sweeper

    stop = threading.Event()
    thread = start_sweeper(state, lambda **_: None, stop)
    try:
        deadline = time.monotonic() + 10
        while state.queue.fetch_job(job_id_for(tick)) is None and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(5)
    assert state.queue.fetch_job(job_id_for(tick)) is not None
    assert 0 < state.redis.ttl(TICK_KEY) <= state.config.tickets_tick_seconds
