"""Several accounts, each with its own teams (issue 22, item 3): a team with the skill "account:KEY" takes that
account's tickets only; teams without an account skill take the others'."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from hub.core.db import session_scope
from hub.tickets import team_for
from hub.tickets.errors import TicketError
from hub.tickets.models import Team
from hub.tickets.teams import create_team
from tests.support.tickets_setup import make_account

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # routing rules, not SQL


def _teams(state: Any, *specs: tuple[str, tuple[str, ...]]) -> dict[str, int]:
    with session_scope(state.engine) as session:
        return {name: create_team(session, name, skills).id for name, skills in specs}


def test_an_accounts_own_teams_take_its_tickets_and_no_others(state: Any) -> None:
    brand, forum = make_account(state, "brand"), make_account(state, "forum")
    ids = _teams(state, ("售后", ("complaint", "*")), ("数码", ("数码",)),
                 ("论坛客服", ("account:forum", "*")), ("论坛投诉", ("account:forum", "complaint")))
    with session_scope(state.engine) as session:
        assert team_for(session, "complaint", [], brand) == ids["售后"]
        assert team_for(session, None, ["数码"], brand) == ids["数码"]
        assert team_for(session, None, [], brand) == ids["售后"]
        assert team_for(session, "complaint", [], forum) == ids["论坛投诉"]
        assert team_for(session, None, ["数码"], forum) == ids["论坛客服"]  # 数码 is not one of the forum's teams
        assert team_for(session, "complaint", [], None) == ids["售后"]


def test_an_account_team_without_a_default_still_takes_the_accounts_tickets(state: Any) -> None:
    forum = make_account(state, "forum")
    ids = _teams(state, ("售后", ("*",)), ("论坛", ("account:forum",)))
    with session_scope(state.engine) as session:
        assert team_for(session, None, ["美妆"], forum) == ids["论坛"]


def test_an_account_skill_needs_a_key(state: Any) -> None:
    with session_scope(state.engine) as session:
        with pytest.raises(TicketError, match="account:KEY"):
            create_team(session, "x", ["account:"])
        team = create_team(session, "long", ["account:" + "k" * 64])
        assert session.exec(select(Team).where(Team.id == team.id)).one().skills == ["account:" + "k" * 64]
