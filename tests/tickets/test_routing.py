"""Routing: the right team, the least loaded online agent under capacity, round-robin among equals, waiting
tickets assigned the moment capacity frees, an offline agent's tickets routed again."""

from __future__ import annotations

from typing import Any

from hub.core.db import session_scope
from hub.tickets import Effects, run_effects
from hub.tickets.models import ASSIGNED, OPEN
from hub.tickets.presence import set_status as set_presence
from hub.tickets.teams import set_capacity
from tests.support.tickets_setup import (
    check_invariants,
    fan_message,
    loads,
    make_account,
    make_agent,
    make_team,
    open_for,
    open_tickets,
    resolve,
    ticket_row,
)


def test_a_hand_off_goes_to_the_least_loaded_agent_of_its_team_round_robin(state: Any, worker: Any) -> None:
    account = make_account(state)
    sales = make_team(state, "售后", ("complaint",))
    make_team(state, "数码", ("数码",))
    a = make_agent(state, "a@x.cn", ("售后",))
    b = make_agent(state, "b@x.cn", ("售后",))
    other = make_agent(state, "c@x.cn", ("数码",))
    tickets = [open_for(state, fan_message(state, account, f"o{i}", "我要投诉"), team_id=sales)[0] for i in range(4)]
    worker()
    owners = [ticket_row(state, t).assignee_id for t in tickets]
    assert all(ticket_row(state, t).status == ASSIGNED for t in tickets)
    assert sorted(owners) == sorted([a, b, a, b]) and other not in owners
    assert owners[0] != owners[1]  # round-robin among equally loaded agents
    check_invariants(state)


def test_waiting_tickets_are_assigned_the_moment_capacity_frees(state: Any, worker: Any) -> None:
    account = make_account(state)
    make_team(state, "售后")
    agent = make_agent(state, "a@x.cn", ("售后",), capacity=1)
    team = None
    first, _ = open_for(state, fan_message(state, account, "o1", "人工"), team_id=team)
    second, _ = open_for(state, fan_message(state, account, "o2", "人工"), team_id=team)
    worker()
    assert ticket_row(state, first).assignee_id == agent and ticket_row(state, second).status == OPEN
    resolve(state, first)
    worker()
    assert ticket_row(state, second).assignee_id == agent
    check_invariants(state)


def test_coming_online_and_raising_capacity_assign_waiting_tickets(state: Any, worker: Any) -> None:
    account = make_account(state)
    agent = make_agent(state, "a@x.cn", capacity=1, status="offline")
    ids = [open_for(state, fan_message(state, account, f"o{i}", "人工"))[0] for i in range(3)]
    worker()
    assert open_tickets(state) == ids
    fx = Effects()
    with session_scope(state.engine) as session:
        set_presence(session, agent, "online", fx)
    run_effects(state, fx)
    worker()
    assert len(open_tickets(state)) == 2
    fx = Effects()
    with session_scope(state.engine) as session:
        set_capacity(session, agent, 3, fx)
    run_effects(state, fx)
    worker()
    assert open_tickets(state) == [] and loads(state)[agent] == (3, 3)
    check_invariants(state)


def test_an_agent_going_offline_has_their_tickets_routed_again(state: Any, worker: Any) -> None:
    account = make_account(state)
    a = make_agent(state, "a@x.cn")
    ticket, _ = open_for(state, fan_message(state, account, "o1", "人工"))
    worker()
    assert ticket_row(state, ticket).assignee_id == a
    b = make_agent(state, "b@x.cn")
    fx = Effects()
    with session_scope(state.engine) as session:
        set_presence(session, a, "offline", fx)
    run_effects(state, fx)
    worker()
    assert ticket_row(state, ticket).assignee_id == b
    assert loads(state)[a] == (0, 5)
    check_invariants(state)


def test_two_hand_offs_of_one_fan_join_one_ticket(state: Any) -> None:
    account = make_account(state)
    first = fan_message(state, account, "o1", "人工")
    second = fan_message(state, account, "o1", "快点")
    one, how_one = open_for(state, first)
    two, how_two = open_for(state, second)
    assert one == two and (how_one, how_two) == ("opened", "joined")


def test_capacity_lowered_below_the_load_keeps_the_tickets_and_takes_no_new_ones(state: Any, worker: Any) -> None:
    account = make_account(state)
    agent = make_agent(state, "a@x.cn", capacity=2)
    first, _ = open_for(state, fan_message(state, account, "o1", "人工"))
    worker()
    fx = Effects()
    with session_scope(state.engine) as session:
        set_capacity(session, agent, 0, fx)
    run_effects(state, fx)
    second, _ = open_for(state, fan_message(state, account, "o2", "人工"))
    worker()
    assert ticket_row(state, first).assignee_id == agent and ticket_row(state, second).status == OPEN
    assert loads(state)[agent] == (1, 0)
