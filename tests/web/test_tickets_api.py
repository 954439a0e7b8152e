"""Issue 19's API: /api/v1/tickets (queue, detail, create, assign, transfer, reply, note, status, merge), /agents,
/teams, /agents/me/status — with bearer tokens: unknown ids 404, illegal moves 409 with the reason, another
agent's ticket 403, nothing half-changed, one reply per idempotency key."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, select
from werkzeug.security import generate_password_hash

from hub.core.db import session_scope
from hub.core.models import OUT, Message, User
from hub.tickets.models import Agent, Ticket, TicketEvent
from hub.web.tokens import create_token
from tests.support.tickets_setup import check_invariants, fan_message, make_account, make_agent, make_team, open_for


@pytest.fixture
def world(state: Any, worker: Any) -> dict[str, Any]:
    account = make_account(state)
    make_team(state, "售后", ("complaint",))
    a = make_agent(state, "a@x.cn", ("售后",))
    b = make_agent(state, "b@x.cn", ("售后",), status="offline")
    with session_scope(state.engine) as session:
        session.add(User(email="admin@x.cn", role="admin", password_hash=generate_password_hash("password123")))
        session.add(User(email="op@x.cn", role="operator", password_hash=generate_password_hash("password123")))
    message = fan_message(state, account, "o1", "我要投诉物流")
    ticket, _ = open_for(state, message)
    worker()
    tokens = {who: {"Authorization": f"Bearer {create_token(state.engine, f'{who}@x.cn')}"}
              for who in ("a", "b", "admin", "op")}
    return {"account": account, "a": a, "b": b, "ticket": ticket, "fan": message.fan_id, "auth": tokens}


def test_the_queue_pages_and_filters(app: Any, world: dict[str, Any]) -> None:
    client, auth = app.test_client(), world["auth"]
    page = client.get("/api/v1/tickets?status=assigned&assignee=me", headers=auth["a"]).get_json()
    assert page["total"] == 1 and page["items"][0]["id"] == world["ticket"]
    assert page["items"][0]["assignee"] == "a@x.cn" and page["items"][0]["priority"] == "normal"
    assert client.get("/api/v1/tickets?assignee=me", headers=auth["b"]).get_json()["total"] == 0
    assert client.get("/api/v1/tickets?limit=0", headers=auth["a"]).status_code == 400
    assert client.get("/api/v1/tickets?team=nobody", headers=auth["a"]).status_code == 404
    detail = client.get(f"/api/v1/tickets/{world['ticket']}", headers=auth["op"]).get_json()
    assert [m["text"] for m in detail["messages"]] == ["我要投诉物流"]
    assert [e["kind"] for e in detail["events"]] == ["opened", "assigned"]
    assert client.get("/api/v1/tickets/999999", headers=auth["a"]).status_code == 404
    assert client.get("/api/v1/tickets").status_code == 401


def test_a_reply_is_stored_once_per_idempotency_key(app: Any, state: Any, world: dict[str, Any]) -> None:
    client, auth, ticket = app.test_client(), world["auth"], world["ticket"]
    headers = {**auth["a"], "Idempotency-Key": "k-1"}
    first = client.post(f"/api/v1/tickets/{ticket}/replies", json={"text": "您好，马上为您查询"}, headers=headers)
    again = client.post(f"/api/v1/tickets/{ticket}/replies", json={"text": "您好，马上为您查询"}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.get_json()["id"] == again.get_json()["id"]
    other = client.post(f"/api/v1/tickets/{ticket}/replies", json={"text": "请提供订单号"}, headers=auth["a"])
    assert other.status_code == 202 and other.get_json()["id"] != first.get_json()["id"]
    with Session(state.engine) as session:
        replies = session.exec(select(Message.text).where(Message.direction == OUT,
                                                          Message.source == f"agent:{world['a']}")).all()
        assert sorted(replies) == sorted(["您好，马上为您查询", "请提供订单号"])
        assert session.get(Ticket, ticket).first_response_at is not None
    bad = client.post(f"/api/v1/tickets/{ticket}/replies", json={"text": ""}, headers=auth["a"])
    assert bad.status_code == 400


def test_another_agents_ticket_is_403_and_changes_nothing(app: Any, state: Any, world: dict[str, Any]) -> None:
    client, auth, ticket = app.test_client(), world["auth"], world["ticket"]
    for path, body in ((f"/api/v1/tickets/{ticket}/replies", {"text": "hi"}),
                       (f"/api/v1/tickets/{ticket}/notes", {"text": "mine"}),
                       (f"/api/v1/tickets/{ticket}/status", {"status": "resolved"})):
        answer = client.post(path, json=body, headers=auth["b"])
        assert answer.status_code == 403 and "a@x.cn" in answer.get_json()["error"], answer.get_json()
        assert client.post(path, json=body, headers=auth["op"]).status_code == 403
    with Session(state.engine) as session:
        assert session.get(Ticket, ticket).status == "assigned"
        assert session.exec(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket)).all() == [
            "opened", "assigned"]


def test_illegal_moves_are_409_with_the_reason(app: Any, state: Any, world: dict[str, Any]) -> None:
    client, auth, ticket = app.test_client(), world["auth"], world["ticket"]
    assert client.post(f"/api/v1/tickets/{ticket}/status", json={"status": "closed"},
                       headers=auth["a"]).status_code == 409
    assert client.post(f"/api/v1/tickets/{ticket}/status", json={"status": "resolved"},
                       headers=auth["a"]).status_code == 200
    answer = client.post(f"/api/v1/tickets/{ticket}/status", json={"status": "waiting"}, headers=auth["a"])
    assert answer.status_code == 409 and "resolved" in answer.get_json()["error"]
    assert client.post(f"/api/v1/tickets/{ticket}/status", json={"status": "limbo"},
                       headers=auth["a"]).status_code == 400
    assert client.post(f"/api/v1/tickets/{ticket}/merge", json={"into": 999999},
                       headers=auth["a"]).status_code == 404
    check_invariants(state)


def test_transfer_notes_and_the_heartbeat(app: Any, state: Any, world: dict[str, Any], worker: Any) -> None:
    client, auth, ticket = app.test_client(), world["auth"], world["ticket"]
    busy = client.post(f"/api/v1/tickets/{ticket}/notes", json={"text": "客户很着急"}, headers=auth["a"])
    assert busy.status_code == 201
    status = client.put("/api/v1/agents/me/status", json={"status": "online"}, headers=auth["b"])
    assert status.status_code == 200 and status.get_json()["status"] == "online"
    moved = client.post(f"/api/v1/tickets/{ticket}/transfer", json={"agent": "b@x.cn"}, headers=auth["a"])
    assert moved.status_code == 200 and moved.get_json()["assignee"] == "b@x.cn"
    with Session(state.engine) as session:
        assert session.get(Agent, world["b"]).status_by_heartbeat
        kinds = session.exec(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket)
                             .order_by(TicketEvent.id)).all()
    assert kinds == ["opened", "assigned", "noted", "transferred"]
    check_invariants(state)


def test_teams_and_agents_are_the_admins(app: Any, state: Any, world: dict[str, Any]) -> None:
    client, auth = app.test_client(), world["auth"]
    assert client.post("/api/v1/teams", json={"name": "数码", "skills": ["数码"]}, headers=auth["a"]).status_code == 403
    made = client.post("/api/v1/teams", json={"name": "数码", "skills": ["数码"], "lead": "a@x.cn"},
                       headers=auth["admin"])
    assert made.status_code == 201 and made.get_json()["lead"] == "a@x.cn"
    assert client.post("/api/v1/teams", json={"name": "数码"}, headers=auth["admin"]).status_code == 409
    agent = client.post("/api/v1/agents", json={"email": "c@x.cn", "teams": ["数码"], "capacity": 2,
                                                "password": "password123"}, headers=auth["admin"])
    assert agent.status_code == 201 and agent.get_json()["teams"] == ["数码"]
    changed = client.patch(f"/api/v1/agents/{agent.get_json()['id']}", json={"capacity": 4}, headers=auth["admin"])
    assert changed.get_json()["capacity"] == 4
    listed = {a["email"]: a for a in client.get("/api/v1/agents", headers=auth["op"]).get_json()}
    assert listed["a@x.cn"]["load"] == 1 and listed["c@x.cn"]["capacity"] == 4


def test_the_openapi_document_describes_the_ticket_routes(app: Any) -> None:
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    for path in ("/tickets", "/tickets/{ticket_id}/replies", "/agents/me/status", "/teams", "/agents"):
        assert path in document["paths"], path
    reply = document["paths"]["/tickets/{ticket_id}/replies"]["post"]
    assert "requestBody" in reply and {"202", "403", "404", "409"} <= reply["responses"].keys()
