"""A ticket's states and log: legal moves only (409 with the reason otherwise, nothing half-changed), the SLA
clock paused while waiting on the fan, merging one fan's tickets, reopening."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from hub.core.db import session_scope
from hub.core.models import as_utc, utcnow
from hub.tickets import Conflict, Effects, NotFound, run_effects
from hub.tickets.lifecycle import Opening, lock_ticket, merge, open_or_join, set_status
from hub.tickets.models import ASSIGNED, CLOSED, OPEN, RESOLVED, WAITING, Ticket, TicketEvent, TicketMessage
from tests.support.tickets_setup import (
    check_invariants,
    fan_message,
    loads,
    make_account,
    make_agent,
    open_for,
    resolve,
)


def _move(state: Any, ticket_id: int, status: str) -> None:
    fx = Effects()
    with session_scope(state.engine) as session:
        set_status(session, state.config, lock_ticket(session, ticket_id), status, None, fx)
    run_effects(state, fx)


def _ticket(state: Any, ticket_id: int) -> Ticket:
    with Session(state.engine) as session:
        return session.get(Ticket, ticket_id)


def test_illegal_moves_are_refused_with_the_reason_and_change_nothing(state: Any, worker: Any) -> None:
    account = make_account(state)
    ticket, _ = open_for(state, fan_message(state, account, "o1", "人工"))
    with pytest.raises(Conflict, match="only an assigned ticket can wait"):
        _move(state, ticket, WAITING)
    with pytest.raises(NotFound):
        _move(state, 999_999, RESOLVED)
    _move(state, ticket, RESOLVED)
    _move(state, ticket, CLOSED)
    with pytest.raises(Conflict, match="closed tickets stay closed"):
        _move(state, ticket, OPEN)
    with Session(state.engine) as session:
        kinds = session.exec(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket)
                             .order_by(TicketEvent.id)).all()
    assert [kind for kind in kinds if not kind.startswith("csat")] == ["opened", "status", "status"]
    assert _ticket(state, ticket).status == CLOSED


def test_waiting_on_the_fan_pauses_the_sla_and_the_fan_answering_resumes_it(state: Any, worker: Any) -> None:
    account = make_account(state)
    make_agent(state, "a@x.cn")
    first = fan_message(state, account, "o1", "人工")
    ticket, _ = open_for(state, first)
    worker()
    due = as_utc(_ticket(state, ticket).resolution_due)
    _move(state, ticket, WAITING)
    with session_scope(state.engine) as session:  # the fan took an hour to answer
        row = session.get(Ticket, ticket)
        row.paused_at = utcnow() - timedelta(hours=1)
        session.add(row)
    open_for(state, fan_message(state, account, "o1", "我回来了"))
    row = _ticket(state, ticket)
    assert row.status == ASSIGNED and row.paused_at is None
    assert as_utc(row.resolution_due) - due >= timedelta(minutes=59)


def test_a_person_writing_on_two_accounts_has_one_active_ticket(state: Any, worker: Any) -> None:
    account, other = make_account(state), make_account(state, "forum")
    make_agent(state, "a@x.cn")
    one = fan_message(state, account, "o1", "人工")
    two = fan_message(state, other, "p1", "还是我", fan_id=one.fan_id)  # the same fan on another account
    first, opened = open_for(state, one)
    second, joined = open_for(state, two)
    worker()
    assert (opened, joined, second) == ("opened", "joined", first)
    with Session(state.engine) as session:
        linked = session.exec(select(TicketMessage.message_id).where(TicketMessage.ticket_id == first)).all()
    assert sorted(linked) == sorted([one.id, two.id])
    check_invariants(state)


def test_merging_moves_messages_and_events_and_frees_the_agent(state: Any, worker: Any) -> None:
    account, other = make_account(state), make_account(state, "second")
    agent = make_agent(state, "a@x.cn")
    one = fan_message(state, account, "o1", "人工")
    first, _ = open_for(state, one)
    worker()
    resolve(state, first)
    two = fan_message(state, other, "p1", "还是我", fan_id=one.fan_id)  # the same fan on another account
    fx = Effects()
    with session_scope(state.engine) as session:  # an agent opens a second ticket (no reopening for agents)
        second = open_or_join(session, state.config, Opening(
            account_id=other, fan_id=one.fan_id, channel="wechat", message_id=two.id, text=two.text,
            source="agent", fan_message_at=two.sent_at), fx, agent)[0].id
    run_effects(state, fx)
    worker()
    assert second != first and loads(state)[agent][0] == 1
    fx = Effects()
    with session_scope(state.engine) as session:
        merge(session, state.config, lock_ticket(session, second), lock_ticket(session, first), agent, fx)
    run_effects(state, fx)
    worker()
    with Session(state.engine) as session:
        moved = session.exec(select(TicketMessage.message_id).where(TicketMessage.ticket_id == first)).all()
    assert {one.id, two.id} <= set(moved)  # with the survey sent when the first was resolved
    assert _ticket(state, second).status == CLOSED and _ticket(state, second).merged_into_id == first
    assert _ticket(state, first).status in (OPEN, ASSIGNED)  # reopened: a person was handling the fan
    assert loads(state)[agent][0] == 1
    check_invariants(state)
    with pytest.raises(Conflict, match="closed tickets cannot be merged"), session_scope(state.engine) as session:
        merge(session, state.config, lock_ticket(session, second), lock_ticket(session, first), agent, Effects())


def test_an_agent_reopens_a_resolved_ticket_and_it_is_routed_again(state: Any, worker: Any) -> None:
    account = make_account(state)
    agent = make_agent(state, "a@x.cn")
    ticket, _ = open_for(state, fan_message(state, account, "o1", "人工"))
    worker()
    _move(state, ticket, RESOLVED)
    assert loads(state)[agent][0] == 0 and _ticket(state, ticket).status == RESOLVED
    _move(state, ticket, OPEN)
    worker()
    assert _ticket(state, ticket).status == ASSIGNED and _ticket(state, ticket).assignee_id == agent
    check_invariants(state)
