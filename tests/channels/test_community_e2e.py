"""End to end over real HTTP: a forum user posts on the emulated Discourse (hub/sandbox/community), which delivers
the signed webhook to the live hub; the worker answers from the knowledge base on the topic through the forum's
API; a post asking for a person opens a ticket and the agent's reply (POST /api/v1/tickets/{id}/replies) lands
on the topic; a rate-limited reply is retried. The forum also delivers the hub's own posts back: never stored."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlmodel import Session, select

from bots.intent_handoff import HANDOFF_TEXT
from hub.core.db import session_scope
from hub.core.models import Account, Message
from hub.intake.journal import flush_all
from hub.sandbox.community import ForumState, create_sandbox_app
from hub.tickets.models import Ticket
from hub.web.tokens import create_token
from tests.support.demo_setup import prepare_demo
from tests.support.servers import LiveServer
from tests.support.tickets_setup import NOWHERE, make_agent

SECRET = "e2e-webhook-secret"
RETURN_ANSWER = "签收后 7 天内可无理由退货"


@pytest.fixture
def forum(state: Any, live_hub: Any) -> Iterator[LiveServer]:
    """The demo's knowledge base and models, a community account serving category 5, and the forum emulation
    delivering to the hub."""
    prepare_demo(state, NOWHERE)
    forum_state = ForumState()
    forum_state.add_api_key("forum-api-key", "hub_bot")
    server = LiveServer(create_sandbox_app(forum_state))
    server.state = forum_state  # type: ignore[attr-defined]
    with session_scope(state.engine) as session:
        session.add(Account(key="forum", channel="community", token=SECRET, app_secret="forum-api-key",
                            api_base=server.url, settings={"api_username": "hub_bot", "categories": [5]}))
    forum_state.set_hook(f"{live_hub.url}/webhooks/community/forum", SECRET)
    yield server
    server.close()


def say(forum: LiveServer, **body: Any) -> dict[str, Any]:
    response = requests.post(f"{forum.url}/sandbox/say", json={"username": "fan_li", **body}, timeout=30)
    assert response.status_code == 200, response.text
    said = response.json()
    assert [d["status"] for d in said["deliveries"]] == [200] * len(said["deliveries"]), said["deliveries"]
    return said["post"]


def posts(forum: LiveServer, topic_id: int) -> list[dict[str, Any]]:
    return requests.get(f"{forum.url}/t/{topic_id}.json", timeout=10).json()["post_stream"]["posts"]


def wait_for_own_post_deliveries(forum: LiveServer, expected: int) -> list[dict[str, Any]]:
    """The forum tells the hub about the hub's own posts too (in the background): wait for those deliveries."""
    deadline = time.monotonic() + 10
    while True:
        own = [d for d in forum.state.deliveries if '"username":"hub_bot"' in d["body"]]  # type: ignore[attr-defined]
        if len(own) >= expected or time.monotonic() > deadline:
            return own
        time.sleep(0.05)


def inbound_texts(state: Any) -> list[str]:
    flush_all(state)
    with Session(state.engine) as session:
        return list(session.exec(select(Message.text).where(Message.direction == "in").order_by(Message.id)).all())


def test_a_forum_question_is_answered_on_its_topic(forum: LiveServer, state: Any, worker: Any) -> None:
    """The first try meets the forum's rate limit (429): the send job retries."""
    requests.post(f"{forum.url}/sandbox/faults", json={"status": 429, "retry_after": 1}, timeout=5)
    asked = say(forum, title="怎么退货", raw="怎么退货", category_id=5)
    worker()
    fan_post, answer = posts(forum, asked["topic_id"])
    assert fan_post["id"] == asked["id"]
    assert answer["username"] == "hub_bot" and answer["reply_to_post_number"] == 1
    assert answer["raw"].startswith(RETURN_ANSWER)
    own = wait_for_own_post_deliveries(forum, 1)
    assert [(d["event"], d["status"]) for d in own] == [("post_created", 200)]
    assert "hub's own API user" in own[0]["response"]  # acknowledged, ignored
    worker()
    assert inbound_texts(state) == ["怎么退货"]  # the hub's own answer never came back as a fan's message
    with Session(state.engine) as session:
        out = session.exec(select(Message).where(Message.direction == "out")).one()
    assert (out.status, out.attempts) == ("sent", 2) and out.meta["remote_id"] == str(answer["id"])


def test_a_person_asked_for_answers_on_the_topic(forum: LiveServer, app: Any, state: Any, worker: Any) -> None:
    make_agent(state, "agent@x.cn")
    token = create_token(state.engine, "agent@x.cn")
    first = say(forum, title="包裹丢了", raw="包裹丢了，我要转人工", category_id=5)
    worker()
    with Session(state.engine) as session:
        ticket = session.exec(select(Ticket)).one()
    assert ticket.status == "assigned"
    assert [p["raw"] for p in posts(forum, first["topic_id"])][1:] == [HANDOFF_TEXT]
    # The fan writes on: it joins the ticket, no bot answers.
    later = say(forum, topic_id=first["topic_id"], raw="订单号 12345")
    worker()
    assert len(posts(forum, first["topic_id"])) == 3
    text = "您好，已为您查到，包裹明天送达。"
    reply = app.test_client().post(f"/api/v1/tickets/{ticket.id}/replies", json={"text": text},
                                   headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 202, reply.get_data(as_text=True)
    worker()
    agent_post = posts(forum, first["topic_id"])[-1]
    assert (agent_post["username"], agent_post["raw"]) == ("hub_bot", "您好，已为您查到，包裹明天送达。")
    assert agent_post["reply_to_post_number"] == later["post_number"] == 3
    assert len(wait_for_own_post_deliveries(forum, 2)) == 2  # the notice and the agent's reply
    worker()
    assert inbound_texts(state) == ["包裹丢了，我要转人工", "订单号 12345"]
