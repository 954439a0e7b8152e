"""Presence: a status the console keeps alive with its heartbeat fades to away, then offline, when the console
goes silent (an offline agent's tickets are routed to others); a status set from the command line holds. Run by
the tickets tick through the worker; silence is made by moving last_seen_at into the past."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col

from hub.core.db import session_scope
from hub.core.models import utcnow
from hub.tickets import Effects, run_effects
from hub.tickets.jobs import TICK_KEY, schedule_tick
from hub.tickets.models import ASSIGNED, AWAY, OFFLINE, ONLINE, Agent, Ticket
from hub.tickets.presence import set_status
from tests.support.tickets_setup import check_invariants, fan_message, make_account, make_agent, open_for


def _heartbeat(state: Any, user_id: int, status: str = ONLINE) -> None:
    fx = Effects()
    with session_scope(state.engine) as session:
        set_status(session, user_id, status, fx, heartbeat=True)
    run_effects(state, fx)


def _silent_for(state: Any, user_id: int, seconds: int) -> None:
    with session_scope(state.engine) as session:
        session.execute(update(Agent).where(col(Agent.user_id) == user_id)
                        .values(last_seen_at=utcnow() - timedelta(seconds=seconds)))


def _tick(state: Any, worker: Any) -> None:
    state.redis.delete(TICK_KEY)  # as if tickets_tick_seconds had passed
    assert schedule_tick(state)
    worker()


def _status(state: Any, user_id: int) -> str:
    with Session(state.engine) as session:
        return session.get(Agent, user_id).status


def _ticket(state: Any, ticket_id: int) -> Ticket:
    with Session(state.engine) as session:
        return session.get(Ticket, ticket_id)


def test_a_silent_console_fades_to_away_then_offline_and_its_tickets_move(state: Any, worker: Any) -> None:
    account = make_account(state)
    first = make_agent(state, "a@x.cn", status=OFFLINE)
    _heartbeat(state, first)
    tickets = [open_for(state, fan_message(state, account, f"o{i}", "人工"))[0] for i in range(2)]
    worker()
    assert {_ticket(state, t).assignee_id for t in tickets} == {first}
    second = make_agent(state, "b@x.cn")
    away, offline = state.config.agent_away_seconds, state.config.agent_offline_seconds

    _silent_for(state, first, away - 5)
    _tick(state, worker)
    assert _status(state, first) == ONLINE  # not silent long enough

    _silent_for(state, first, away + 5)
    _tick(state, worker)
    assert _status(state, first) == AWAY
    assert {_ticket(state, t).assignee_id for t in tickets} == {first}  # away keeps its tickets
    _tick(state, worker)
    assert _status(state, first) == AWAY

    _silent_for(state, first, offline + 5)
    _tick(state, worker)
    assert _status(state, first) == OFFLINE
    assert all(_ticket(state, t).status == ASSIGNED and _ticket(state, t).assignee_id == second for t in tickets)
    check_invariants(state)

    _heartbeat(state, first)  # the console is back
    assert _status(state, first) == ONLINE
    _tick(state, worker)
    assert _status(state, first) == ONLINE


def test_a_status_set_from_the_command_line_does_not_fade(state: Any, worker: Any) -> None:
    account = make_account(state)
    agent = make_agent(state, "a@x.cn")  # `hub agents status`: no heartbeat
    ticket_id, _ = open_for(state, fan_message(state, account, "o1", "人工"))
    worker()
    _silent_for(state, agent, state.config.agent_offline_seconds + 60)
    _tick(state, worker)
    assert _status(state, agent) == ONLINE and _ticket(state, ticket_id).assignee_id == agent


def test_a_silent_away_status_set_by_the_console_goes_offline(state: Any, worker: Any) -> None:
    agent = make_agent(state, "a@x.cn", status=OFFLINE)
    _heartbeat(state, agent, AWAY)
    _silent_for(state, agent, state.config.agent_offline_seconds + 5)
    _tick(state, worker)
    assert _status(state, agent) == OFFLINE
