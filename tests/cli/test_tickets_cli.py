"""`hub teams`, `hub agents`, `hub tickets` as the design contract names them: set up teams and agents, see the
worker route a hand-off to an agent, assign, resolve; every refusal exits non-zero with a one-line reason."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from click.testing import CliRunner
from sqlmodel import Session

from hub.cli import cli
from hub.tickets.models import Ticket
from tests.support.tickets_setup import check_invariants, fan_message, make_account, open_for

CONTRACT_FIELDS = {"id", "fan", "status", "assignee", "team", "priority", "intent", "created_at"}


@pytest.fixture
def env(hub_config: dict[str, Any]) -> dict[str, str]:
    return {f"HUB_{k.upper()}": str(v) for k, v in hub_config.items()}


@pytest.fixture
def run(env: dict[str, str], app: Any) -> Any:
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True) -> Any:
        result = runner.invoke(cli, list(args), env=env, catch_exceptions=False)
        assert (result.exit_code == 0) == ok, (args, result.exit_code, result.output)
        return result

    return invoke


def refused(run: Any, *args: str) -> str:
    """The one-line reason a refused command gives."""
    lines = run(*args, ok=False).output.strip().splitlines()
    assert len(lines) == 1 or lines[0].startswith("Usage:"), lines
    return lines[-1]


def _ticket(state: Any, ticket_id: int) -> Ticket:
    with Session(state.engine) as session:
        return session.get(Ticket, ticket_id)


def _setup_teams_and_agents(run: Any) -> None:
    run("teams", "add", "售后", "--skills", "complaint,human")
    run("teams", "add", "数码", "--skills", "数码")
    run("agents", "add", "a@x.cn", "--team", "售后", "--capacity", "1", "--password", "password123")
    run("agents", "add", "b@x.cn", "--team", "售后", "--team", "数码", "--password", "password123", "--name", "B")


def test_teams_and_agents_are_set_up_from_the_terminal(run: Any) -> None:
    _setup_teams_and_agents(run)
    assert "exists already" in refused(run, "teams", "add", "售后")
    assert "no user" in refused(run, "teams", "set", "数码", "--lead", "nobody@x.cn")
    assert "nothing to change" in refused(run, "teams", "set", "数码")
    run("teams", "set", "数码", "--skills", "数码，question", "--lead", "b@x.cn")
    teams = {t["name"]: t for t in json.loads(run("teams", "list", "--json").output)}
    assert teams["售后"]["skills"] == ["complaint", "human"] and teams["售后"]["agents"] == ["a@x.cn", "b@x.cn"]
    assert teams["数码"]["skills"] == ["数码", "question"] and teams["数码"]["lead"] == "b@x.cn"
    assert teams["数码"]["agents"] == ["b@x.cn"]

    assert "--password" in refused(run, "agents", "add", "c@x.cn", "--team", "售后")
    assert "no team named" in refused(run, "agents", "add", "c@x.cn", "--team", "nope", "--password", "password123")
    assert "offline" in run("agents", "add", "c@x.cn", "--team", "数码", "--password", "password123").output
    run("agents", "status", "a@x.cn", "online")
    run("agents", "status", "b@x.cn", "away")
    run("agents", "capacity", "a@x.cn", "3")
    assert "capacity is a number" in refused(run, "agents", "capacity", "a@x.cn", "101")
    assert "no user" in refused(run, "agents", "status", "nobody@x.cn", "online")
    run("user", "add", "op@x.cn", "--role", "operator", "--password", "password123")
    assert "not an agent" in refused(run, "agents", "capacity", "op@x.cn", "2")
    assert "is not one of" in refused(run, "agents", "status", "a@x.cn", "busy")

    agents = {a["email"]: a for a in json.loads(run("agents", "list", "--json").output)}
    assert set(agents) == {"a@x.cn", "b@x.cn", "c@x.cn"}
    assert (agents["a@x.cn"]["status"], agents["a@x.cn"]["capacity"], agents["a@x.cn"]["load"]) == ("online", 3, 0)
    assert agents["b@x.cn"]["status"] == "away" and agents["b@x.cn"]["teams"] == ["售后", "数码"]
    assert agents["b@x.cn"]["name"] == "B" and agents["c@x.cn"]["status"] == "offline"
    assert "a@x.cn" in run("agents", "list").output and "售后" in run("teams", "list").output


def test_tickets_routed_listed_assigned_and_resolved(run: Any, state: Any, worker: Any, sandbox: Any) -> None:
    account = make_account(state, api_base=sandbox.url)
    sandbox.state.register_app("wxbrand", "s", token="t")
    _setup_teams_and_agents(run)
    run("agents", "status", "a@x.cn", "online")
    sales = {t["name"]: t["id"] for t in json.loads(run("teams", "list", "--json").output)}["售后"]
    first, _ = open_for(state, fan_message(state, account, "o1", "我要投诉"), team_id=sales, intent="complaint",
                        priority=3)
    second, _ = open_for(state, fan_message(state, account, "o2", "转人工"), team_id=sales, intent="human")
    worker()

    rows = {row["id"]: row for row in json.loads(run("tickets", "list", "--json").output)}
    assert rows[first].keys() >= CONTRACT_FIELDS
    assert {k: rows[first][k] for k in ("fan", "status", "assignee", "team", "priority", "intent")} == {
        "fan": rows[first]["fan"], "status": "assigned", "assignee": "a@x.cn", "team": "售后", "priority": "high",
        "intent": "complaint"}
    assert (rows[second]["status"], rows[second]["assignee"]) == ("open", None)  # a@x.cn is full, b@x.cn offline
    assert [r["id"] for r in json.loads(run("tickets", "list", "--status", "open", "--json").output)] == [second]
    assert "a@x.cn" in run("tickets", "list").output

    # Coming online routes the waiting ticket (the worker does it).
    run("agents", "status", "b@x.cn", "online")
    worker()
    assert _ticket(state, second).status == "assigned" and _ticket(state, second).assignee_id is not None

    shown = json.loads(run("tickets", "show", str(second), "--json").output)
    assert shown["assignee"] == "b@x.cn" and shown["team"] == "售后" and shown["messages"][0]["text"] == "转人工"
    assert [e["kind"] for e in shown["events"]] == ["opened", "assigned"]
    assert "转人工" in run("tickets", "show", str(second)).output

    # Going offline hands b's ticket back; nobody has room, so it waits — until a@x.cn's capacity goes up.
    run("agents", "status", "b@x.cn", "offline")
    worker()
    assert _ticket(state, second).status == "open"
    run("agents", "capacity", "a@x.cn", "2")
    worker()
    assert json.loads(run("tickets", "show", str(second), "--json").output)["assignee"] == "a@x.cn"
    check_invariants(state)

    assert "no user c@x.cn" in refused(run, "tickets", "assign", str(first), "c@x.cn")
    run("agents", "add", "c@x.cn", "--team", "数码", "--capacity", "1", "--password", "password123")
    run("tickets", "assign", str(first), "c@x.cn")  # an assignment by hand ignores presence, not capacity
    assert _ticket(state, first).assignee_id is not None
    assert json.loads(run("tickets", "show", str(first), "--json").output)["assignee"] == "c@x.cn"
    assert "at capacity" in refused(run, "tickets", "assign", str(second), "c@x.cn")
    check_invariants(state)

    # Resolving frees the agent and sends the fan the satisfaction survey; resolving again is refused.
    sandbox.state.record_interaction("wxbrand", "o1", "text")
    assert "resolved" in run("tickets", "resolve", str(first)).output
    worker()
    assert _ticket(state, first).status == "resolved"
    assert any("打分" in (m.get("text") or {}).get("content", "") for m in sandbox.state.outbox("wxbrand", "o1"))
    assert "resolved already" in refused(run, "tickets", "resolve", str(first))
    assert "reopen it" in refused(run, "tickets", "assign", str(first), "a@x.cn")
    check_invariants(state)


def test_unknown_ids_and_names_exit_non_zero_with_one_line(run: Any, env: dict[str, str]) -> None:
    run("teams", "add", "售后")
    run("agents", "add", "a@x.cn", "--team", "售后", "--password", "password123")
    assert refused(run, "tickets", "resolve", "999").endswith("no ticket 999")
    assert refused(run, "tickets", "show", "999").endswith("no ticket 999")
    assert refused(run, "tickets", "assign", "999", "a@x.cn").endswith("no ticket 999")
    assert "no user" in refused(run, "tickets", "assign", "1", "nobody@x.cn")
    assert "no team named" in refused(run, "teams", "set", "nope", "--skills", "x")
    # Through the installed entry point: one line on stderr, "error: ...", exit status 1.
    result = subprocess.run([sys.executable, "-m", "hub", "tickets", "resolve", "999"], capture_output=True,
                            text=True, env={**env, "PATH": "/usr/bin:/bin"}, timeout=120)
    assert result.returncode == 1 and result.stderr.strip().splitlines() == ["error: no ticket 999"]


def test_the_commands_offer_exactly_the_statuses_the_tables_accept() -> None:
    from hub.cli import tickets
    from hub.tickets.models import PRESENCE, STATUSES

    assert (tickets.STATUSES, tickets.PRESENCE) == (STATUSES, PRESENCE)
