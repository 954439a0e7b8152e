"""The forum emulation's own controls (bad input is a 400 naming the problem, unknown things 404), ping and
edits played against the live hub, and the demo's forum wiring (`hub demo` starts it the same way)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlmodel import Session, select

from hub.core.models import Message
from hub.demo.community import FORUM_CATEGORY, say_command, start_community_demo
from hub.intake.journal import flush_all
from hub.sandbox.community import ForumState, create_sandbox_app
from tests.support.servers import LiveServer


@pytest.fixture
def forum() -> Iterator[LiveServer]:
    server = LiveServer(create_sandbox_app(ForumState()))
    yield server
    server.close()


@pytest.mark.parametrize(("path", "body", "status"), [
    ("/sandbox/say", {"raw": "x"}, 400),  # no username
    ("/sandbox/say", {"username": "u", "raw": "x"}, 400),  # neither topic_id nor title
    ("/sandbox/say", {"username": "u", "raw": "x", "topic_id": 424242}, 404),
    ("/sandbox/say", [1, 2], 400),
    ("/sandbox/posts/99/edit", {"raw": "x"}, 404),
    ("/sandbox/faults", {"status": 200}, 400),
    ("/sandbox/faults", {"status": 429, "errors": "no list"}, 400),
    ("/sandbox/webhook", {"url": "http://127.0.0.1:9"}, 400),  # no secret
    ("/sandbox/redeliver", {}, 404),  # nothing delivered yet
    ("/sandbox/ping", {}, 400),  # no webhook set
    ("/posts.json", {"raw": "x", "topic_id": 1}, 403),  # no Api-Key
])
def test_the_emulation_refuses_bad_input(forum: LiveServer, path: str, body: Any, status: int) -> None:
    response = requests.post(f"{forum.url}{path}", json=body, timeout=5)
    assert response.status_code == status, response.text
    assert response.json()


def test_the_page_shows_topics_escaped(forum: LiveServer) -> None:
    requests.post(f"{forum.url}/sandbox/say", json={"username": "u", "title": "<b>标题</b>", "raw": "<script>x"},
                  timeout=5)
    page = requests.get(f"{forum.url}/", timeout=5).text
    assert "&lt;b&gt;标题&lt;/b&gt;" in page and "&lt;script&gt;x" in page and "<script>x" not in page
    assert requests.get(f"{forum.url}/sandbox/stats", timeout=5).json()["posts"] == 1
    assert requests.get(f"{forum.url}/t/999.json", timeout=5).status_code == 404


def test_the_demo_forum_reaches_the_hub(state: Any, live_hub: Any) -> None:
    server, url = start_community_demo(state, live_hub.port, 0)
    try:
        assert requests.post(f"{url}/sandbox/ping", timeout=10).json()["status"] == 200
        said = requests.post(f"{url}/sandbox/say", json={"username": "fan_li", "title": "怎么退货",
                                                          "raw": "买的东西想退", "category_id": FORUM_CATEGORY},
                             timeout=30).json()
        assert [d["status"] for d in said["deliveries"]] == [200, 200]
        edited = requests.post(f"{url}/sandbox/posts/{said['post']['id']}/edit", json={"raw": "买的东西坏了想退"},
                               timeout=30).json()
        assert [d["status"] for d in edited["deliveries"]] == [200]
        again = requests.post(f"{url}/sandbox/redeliver", json={}, timeout=30).json()  # a retry
        assert again["status"] == 200
    finally:
        server.shutdown()
    flush_all(state)
    with Session(state.engine) as session:
        texts = session.exec(select(Message.text).where(Message.direction == "in").order_by(Message.id)).all()
    assert texts == ["怎么退货\n买的东西想退", "怎么退货\n买的东西坏了想退"]
    assert "/sandbox/say" in say_command(url) and '"category_id": 5' in say_command(url)
