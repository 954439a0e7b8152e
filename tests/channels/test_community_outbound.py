"""CommunityChannel.send over real HTTP against the forum emulation (hub/sandbox/community): the reply lands on
the topic as a reply to the fan's post, with Api-Key and Api-Username; the forum's errors become transient
(retry) or permanent failures. Also the emulation itself: its API checks and its signed deliveries."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from channels.base import AccountConfig, OutboundMessage, PermanentSendError, SendError, TransientSendError
from channels.community import CommunityChannel
from hub.sandbox.community import ForumState, create_sandbox_app
from tests.support.servers import LiveServer

API_KEY = "forum-api-key"


@pytest.fixture
def forum() -> Iterator[LiveServer]:
    state = ForumState()
    state.add_api_key(API_KEY, "hub_bot")
    server = LiveServer(create_sandbox_app(state))
    server.state = state  # type: ignore[attr-defined]
    yield server
    server.close()


def channel(url: str, **overrides: Any) -> CommunityChannel:
    fields = {"key": "forum", "channel": "community", "token": "s", "app_secret": API_KEY, "api_base": url,
              "settings": {"api_username": "hub_bot", "timeout_seconds": 3}} | overrides
    return CommunityChannel.from_account(AccountConfig(**fields))


def answer(topic_id: int, post_number: int = 1, text: str = "签收后 7 天内可无理由退货") -> OutboundMessage:
    return OutboundMessage("forum", "2401", text=text, in_reply_to={"topic_id": topic_id, "post_number": post_number})


def test_a_reply_lands_on_the_topic(forum: LiveServer) -> None:
    post = forum.state.create_topic("fan_li", "怎么退货", "买的东西想退", 5)  # type: ignore[attr-defined]
    remote_id = channel(forum.url).send(answer(post.topic_id))
    topic = requests.get(f"{forum.url}/t/{post.topic_id}.json", timeout=5).json()
    fan_post, reply = topic["post_stream"]["posts"]
    assert fan_post["username"] == "fan_li"
    assert (reply["username"], reply["reply_to_post_number"]) == ("hub_bot", 1)
    assert reply["raw"] == "签收后 7 天内可无理由退货"
    assert remote_id == str(reply["id"])
    assert requests.get(f"{forum.url}/posts/{reply['id']}.json", timeout=5).json()["topic_id"] == post.topic_id


@pytest.mark.parametrize(("fault", "kind", "code"), [
    ({"status": 429, "retry_after": 7}, TransientSendError, 429),
    ({"status": 502}, TransientSendError, 502),
    ({"status": 403}, PermanentSendError, 403),
    ({"status": 422, "errors": ["Body is too similar to what you recently posted"]}, PermanentSendError, 422),
])
def test_api_errors_are_sorted_into_retry_and_give_up(forum: LiveServer, fault: dict, kind: type, code: int) -> None:
    post = forum.state.create_topic("fan_li", "t", "问题", 5)  # type: ignore[attr-defined]
    assert requests.post(f"{forum.url}/sandbox/faults", json=fault, timeout=5).status_code == 201
    with pytest.raises(SendError) as raised:
        channel(forum.url).send(answer(post.topic_id))
    assert type(raised.value) is kind and raised.value.code == code
    if code == 429:
        assert "retry after 7 s" in raised.value.message
    if code == 422:
        assert "too similar" in raised.value.message
    channel(forum.url).send(answer(post.topic_id))  # the fault is used up: the retry goes through
    assert len(forum.state.topics[post.topic_id].posts) == 2  # type: ignore[attr-defined]


def test_what_the_forum_itself_refuses(forum: LiveServer) -> None:
    post = forum.state.create_topic("fan_li", "t", "问题", 5)  # type: ignore[attr-defined]
    bad_key = channel(forum.url, app_secret="wrong")
    with pytest.raises(PermanentSendError) as raised:
        bad_key.send(answer(post.topic_id))
    assert raised.value.code == 403 and "API key" in raised.value.message
    with pytest.raises(PermanentSendError) as raised:
        channel(forum.url, settings={"api_username": "someone_else"}).send(answer(post.topic_id))
    assert raised.value.code == 403
    with pytest.raises(PermanentSendError) as raised:
        channel(forum.url).send(answer(999_999))
    assert raised.value.code == 404
    requests.post(f"{forum.url}/sandbox/settings", json={"min_post_length": 20}, timeout=5)
    with pytest.raises(PermanentSendError) as raised:
        channel(forum.url).send(answer(post.topic_id, text="好的"))
    assert raised.value.code == 422 and "too short" in raised.value.message
    with pytest.raises(PermanentSendError) as raised:
        channel(forum.url).send(OutboundMessage("forum", "2401", text="没有主题"))
    assert raised.value.code == "no_topic"
    with pytest.raises(PermanentSendError):
        channel(forum.url, api_base=None).send(answer(post.topic_id))
    with pytest.raises(TransientSendError) as raised:
        channel("http://127.0.0.1:9").send(answer(post.topic_id))
    assert raised.value.code == "network"
    assert len(forum.state.topics[post.topic_id].posts) == 1  # type: ignore[attr-defined]


def test_the_emulation_signs_its_deliveries_like_discourse(forum: LiveServer) -> None:
    """Playing a forum user: the emulation delivers topic_created and post_created, signed over the exact
    bytes; a retry carries a new event id and the same body."""
    received: list[tuple[dict[str, str], bytes]] = []

    def hub(environ: Any, start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_X_")}
        received.append((headers, environ["wsgi.input"].read(length)))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"ok": true}']

    target = LiveServer(hub)
    try:
        requests.post(f"{forum.url}/sandbox/webhook", json={"url": target.url, "secret": "s3"}, timeout=5)
        said = requests.post(f"{forum.url}/sandbox/say", json={"username": "fan_li", "raw": "怎么退货",
                                                                "title": "退货", "category_id": 5}, timeout=10).json()
        assert [d["status"] for d in said["deliveries"]] == [200, 200]
        requests.post(f"{forum.url}/sandbox/redeliver", json={}, timeout=10)
    finally:
        target.close()
    events = [h["X-Discourse-Event"] for h, _ in received]
    assert events == ["topic_created", "post_created", "post_created"]
    for headers, body in received:
        digest = hmac.new(b"s3", body, hashlib.sha256).hexdigest()
        assert headers["X-Discourse-Event-Signature"] == f"sha256={digest}"
    assert received[1][1] == received[2][1]
    assert received[1][0]["X-Discourse-Event-Id"] != received[2][0]["X-Discourse-Event-Id"]
    post = json.loads(received[1][1])["post"]
    assert (post["username"], post["raw"], post["category_id"], post["post_number"]) == ("fan_li", "怎么退货", 5, 1)
