"""Who may do what to a ticket: agents their own tickets and their teams' unassigned ones, team leads their whole
team, operators read only, admins everything; another agent's ticket is refused naming its assignee."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session

from hub.core.db import session_scope
from hub.core.models import User
from hub.tickets import Effects, Forbidden, TicketError
from hub.tickets.lifecycle import lock_ticket
from hub.tickets.models import Team, Ticket
from hub.tickets.permissions import ACT, allowed, check, check_create
from hub.tickets.routing import assign_to
from tests.support.tickets_setup import fan_message, make_account, make_agent, make_team, open_for


def _user(state: Any, email: str, role: str) -> int:
    with session_scope(state.engine) as session:
        user = User(email=email, password_hash="x", role=role)
        session.add(user)
        session.flush()
        return user.id


@pytest.fixture
def world(state: Any) -> dict[str, int]:
    account = make_account(state)
    sales, digital = make_team(state, "售后"), make_team(state, "数码")
    ids = {
        "a": make_agent(state, "a@x.cn", ("售后",)), "b": make_agent(state, "b@x.cn", ("售后",)),
        "c": make_agent(state, "c@x.cn", ("数码",)), "lead": make_agent(state, "lead@x.cn", ("售后",)),
        "operator": _user(state, "op@x.cn", "operator"), "admin": _user(state, "admin@x.cn", "admin"),
    }
    with session_scope(state.engine) as session:
        team = session.get(Team, sales)
        team.lead_id = ids["lead"]
        session.add(team)
    ids["own"] = open_for(state, fan_message(state, account, "o1", "投诉"), team_id=sales, run=False)[0]
    ids["free"] = open_for(state, fan_message(state, account, "o2", "人工"), team_id=sales, run=False)[0]
    ids["no_team"] = open_for(state, fan_message(state, account, "o3", "人工"), run=False)[0]
    ids["digital"] = open_for(state, fan_message(state, account, "o4", "手机"), team_id=digital, run=False)[0]
    with session_scope(state.engine) as session:
        assign_to(session, lock_ticket(session, ids["own"]), ids["a"], None, Effects())
    return ids


def _allowed(state: Any, who: str, role: str, ticket: str, action: str, ids: dict[str, int]) -> bool:
    with Session(state.engine) as session:
        return allowed(session, ids[who], role, session.get(Ticket, ids[ticket]), action)


def test_an_agent_works_their_own_tickets_and_takes_their_teams_unassigned_ones(state: Any,
                                                                              world: dict[str, int]) -> None:
    for action in ("read", "take", *ACT):
        assert _allowed(state, "a", "agent", "own", action, world), action
        assert _allowed(state, "b", "agent", "free", action, world), action  # unassigned, in b's team
        assert _allowed(state, "c", "agent", "no_team", action, world), action  # no team: anyone's
    assert not _allowed(state, "a", "agent", "own", "assign", world)  # to someone else: the lead's call
    assert not _allowed(state, "a", "agent", "digital", "take", world)  # another team's
    assert _allowed(state, "a", "agent", "digital", "read", world)  # but everyone reads every ticket


def test_another_agents_ticket_is_forbidden_with_the_assignee_named(state: Any, world: dict[str, int]) -> None:
    with Session(state.engine) as session:
        ticket = session.get(Ticket, world["own"])
        for action in ("take", *ACT):
            with pytest.raises(Forbidden) as refused:
                check(session, world["b"], "agent", ticket, action)
            assert "a@x.cn" in refused.value.message and refused.value.status == 403
        check(session, world["b"], "agent", ticket, "read")
        with pytest.raises(Forbidden) as refused:
            check(session, world["a"], "agent", session.get(Ticket, world["digital"]), "reply")
        assert "数码" in refused.value.message


def test_a_team_lead_works_and_assigns_every_ticket_of_the_team(state: Any, world: dict[str, int]) -> None:
    for action in ("take", "assign", *ACT):
        assert _allowed(state, "lead", "agent", "own", action, world), action
        assert _allowed(state, "lead", "agent", "free", action, world), action
    assert not _allowed(state, "lead", "agent", "digital", "assign", world)  # not the lead of 数码


def test_operators_read_and_admins_do_everything(state: Any, world: dict[str, int]) -> None:
    for ticket in ("own", "free", "digital"):
        assert _allowed(state, "operator", "operator", ticket, "read", world)
        for action in ("take", "assign", *ACT):
            assert not _allowed(state, "operator", "operator", ticket, action, world)
            assert _allowed(state, "admin", "admin", ticket, action, world)
    with Session(state.engine) as session:
        with pytest.raises(Forbidden, match="operators can read"):
            check(session, world["operator"], "operator", session.get(Ticket, world["free"]), "note")
        with pytest.raises(TicketError, match="unknown ticket action"):
            check(session, world["admin"], "admin", session.get(Ticket, world["free"]), "explode")
    check_create("agent")
    check_create("admin")
    with pytest.raises(Forbidden):
        check_create("operator")
