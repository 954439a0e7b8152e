"""The community (Discourse) webhook on its own: deliveries built from the protocol (headers, HMAC-SHA256 of the
exact body bytes) reach the hub as InboundMessages or are refused with a 4xx and a log line, the hub seeing
nothing. Also the request builders the other community tests use."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client

from channels.base import AccountConfig
from channels.community import CommunityChannel
from tests.channels.conftest import Recorder

SECRET = "community-test-secret"
MAX_BODY = 8192
FORUM = AccountConfig(key="forum", channel="community", token=SECRET, app_secret="api-key-1",
                      api_base="http://127.0.0.1:9", settings={"api_username": "hub_bot", "categories": [5, 7]})
ACCOUNTS = {
    "forum": FORUM,
    "open": AccountConfig(key="open", channel="community", token=SECRET),  # no categories: every category
    "nosecret": AccountConfig(key="nosecret", channel="community", token=""),
    "wechat": AccountConfig(key="wechat", channel="wechat", token=SECRET),
}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def post_payload(*, post_id: int = 79563, username: str = "darknao", user_id: int = 2401,
                 raw: str = "Hello from the forum", topic_id: int = 46582, post_number: int = 3,
                 category_id: int | None = 7, version: int = 1, title: str = "Docs meeting agenda",
                 created: datetime | None = None, updated: datetime | None = None, **more: Any) -> dict[str, Any]:
    """A post as Discourse's WebHookPostSerializer sends it (the fields the hub reads, and a few it does not)."""
    created = created or datetime.now(UTC)
    return {"post": {
        "id": post_id, "name": username.title(), "username": username, "avatar_template": "/a/{size}/1.png",
        "created_at": iso(created), "cooked": f"<p>{raw}</p>", "raw": raw, "post_number": post_number,
        "post_type": 1, "updated_at": iso(updated or created), "reply_count": 0, "reply_to_post_number": None,
        "topic_id": topic_id, "topic_slug": "t", "topic_title": title, "category_id": category_id,
        "display_username": username.title(), "version": version, "user_id": user_id, "hidden": False,
        "trust_level": 1, "deleted_at": None, "user_deleted": False, "wiki": False, "topic_archetype": "regular",
        **more,
    }}


def delivery(event: str, payload: dict[str, Any] | bytes, *, secret: str = SECRET,
             event_id: int = 1) -> tuple[dict[str, str], bytes]:
    """Headers and body as Discourse sends them: the signature is the HMAC-SHA256 of these exact bytes."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    kind = {"ping": "ping", "topic_created": "topic"}.get(event, "post")
    return {"Content-Type": "application/json", "X-Discourse-Instance": "https://forum.example.org",
            "X-Discourse-Event-Id": str(event_id), "X-Discourse-Event-Type": kind, "X-Discourse-Event": event,
            "X-Discourse-Event-Signature": f"sha256={digest}"}, body


def make_client(recorder: Recorder, accounts: dict[str, AccountConfig] = ACCOUNTS) -> Client:
    webhook = CommunityChannel.webhook(recorder, accounts.get, max_body_bytes=MAX_BODY)
    return Client(DispatcherMiddleware(NotFound(), {"/webhooks/community": webhook}))


@pytest.fixture
def client(recorder: Recorder) -> Client:
    return make_client(recorder)


def send(client: Client, event: str, payload: dict[str, Any] | bytes, key: str = "forum", **kw: Any) -> Any:
    headers, body = delivery(event, payload, **kw)
    return client.post(f"/webhooks/community/{key}", data=body, headers=headers)


def test_ping_is_answered(client: Client, recorder: Recorder) -> None:
    response = send(client, "ping", {"ping": "OK"})
    assert response.status_code == 200 and response.get_json()["ok"] is True
    assert recorder.calls == []


def test_a_new_post_becomes_a_message(client: Client, recorder: Recorder) -> None:
    response = send(client, "post_created", post_payload(raw="怎么退货？", post_number=2), event_id=158765)
    assert response.status_code == 200
    [message] = recorder.calls
    assert (message.channel, message.account, message.sender, message.kind) == ("community", "forum", "2401", "text")
    assert message.text == "怎么退货？"
    assert message.external_id.startswith("post:79563:")
    assert message.extra["topic_id"] == 46582 and message.extra["post_number"] == 2
    assert message.extra["category_id"] == 7 and message.extra["username"] == "darknao"
    assert message.extra["event_id"] == "158765" and message.extra["instance"] == "https://forum.example.org"
    assert "observe_only" not in message.extra
    assert json.loads(message.raw)["post"]["id"] == 79563


def test_the_first_post_of_a_topic_carries_its_title_and_quotes_are_left_out(client: Client,
                                                                             recorder: Recorder) -> None:
    send(client, "post_created", post_payload(raw="订单一直没动静", post_number=1, title="多久发货"))
    quoted = "[quote=\"hub_bot, post:2, topic:46582\"]\n现货订单 48 小时内发货\n[/quote]\n还是没发货"
    send(client, "post_created", post_payload(post_id=2, raw=quoted, post_number=3))
    send(client, "post_created", post_payload(post_id=3, raw="", post_number=4) | {
        "post": {**post_payload(post_id=3, post_number=4)["post"], "raw": None, "cooked": "<p>只有 <b>HTML</b></p>"}})
    assert [m.text for m in recorder.calls] == ["多久发货\n订单一直没动静", "还是没发货", "只有 HTML"]


def test_retries_and_edits(client: Client, recorder: Recorder) -> None:
    send(client, "post_created", post_payload(raw="第一版"), event_id=1)
    send(client, "post_created", post_payload(raw="第一版"), event_id=2)  # a retry: new event id, same body
    later = datetime.now(UTC)
    send(client, "post_edited", post_payload(raw="第一版", version=2, updated=later), event_id=3)  # title change
    send(client, "post_edited", post_payload(raw="第二版", version=3, updated=later), event_id=4)
    ids = [m.external_id for m in recorder.calls]
    # The hub's unique key dedupes: same post and text, same id; a changed text is a new message.
    assert ids[0] == ids[1] == ids[2] != ids[3] and ids[3].startswith("post:79563:")
    assert recorder.calls[3].text == "第二版" and recorder.calls[3].extra["version"] == 3


def test_own_posts_system_users_and_topics_are_acknowledged_and_not_passed_on(client: Client,
                                                                              recorder: Recorder) -> None:
    assert send(client, "post_created", post_payload(username="Hub_Bot", user_id=3)).status_code == 200
    assert send(client, "post_created", post_payload(username="system", user_id=-1)).status_code == 200
    assert send(client, "post_created", post_payload(post_type=3)).status_code == 200  # "closed the topic"
    topic = {"topic": {"id": 31739, "title": "t", "category_id": 7, "user_id": 10766}}
    assert send(client, "topic_created", topic).status_code == 200
    assert send(client, "user_created", {"user": {"id": 1}}).status_code == 200
    assert recorder.calls == []


def test_categories_the_bot_does_not_serve_are_observed_only(client: Client, recorder: Recorder) -> None:
    send(client, "post_created", post_payload(post_id=1, category_id=5))
    send(client, "post_created", post_payload(post_id=2, category_id=9))
    send(client, "post_created", post_payload(post_id=3, category_id=None))  # a private message
    send(client, "post_created", post_payload(post_id=4, category_id=9), key="open")
    assert [bool(m.extra.get("observe_only")) for m in recorder.calls] == [False, True, True, False]


@pytest.mark.parametrize(("case", "status"), [
    ("forged", 403), ("wrong secret", 403), ("no signature", 401), ("no event", 400), ("malformed json", 400),
    ("not an object", 400), ("no post", 400), ("bad field", 400), ("oversized", 413), ("unknown key", 404),
    ("other channel", 404), ("no secret", 403), ("stale", 403), ("get", 405), ("nested path", 404),
])
def test_bad_deliveries_get_a_4xx_and_a_log_line(client: Client, recorder: Recorder, caplog: Any,
                                                case: str, status: int) -> None:
    headers, body = delivery("post_created", post_payload())
    key, method = "forum", "POST"
    if case == "forged":
        body = body.replace(b"Hello", b"Jello")
    elif case == "wrong secret":
        headers, body = delivery("post_created", post_payload(), secret="not-the-secret")
    elif case == "no signature":
        del headers["X-Discourse-Event-Signature"]
    elif case == "no event":
        del headers["X-Discourse-Event"]
    elif case in ("malformed json", "not an object", "no post", "bad field", "oversized", "stale"):
        payload: Any = {
            "malformed json": b'{"post": {"id": 1,', "not an object": b"[1, 2]", "no post": {"topic": {}},
            "bad field": post_payload(topic_id="46582"), "oversized": post_payload(raw="x" * MAX_BODY),
            "stale": post_payload(created=datetime.now(UTC) - timedelta(days=30)),
        }[case]
        headers, body = delivery("post_created", payload)
    elif case in ("unknown key", "other channel", "no secret"):
        key = {"unknown key": "nope", "other channel": "wechat", "no secret": "nosecret"}[case]
    elif case == "get":
        method = "GET"
    elif case == "nested path":
        key = "forum/extra"
    with caplog.at_level(logging.WARNING, logger="channels.community"):
        response = client.open(f"/webhooks/community/{key}", method=method, data=body, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)
    assert recorder.calls == []
    if status != 405:
        assert any("community webhook rejected" in r.getMessage() for r in caplog.records)
    assert SECRET not in caplog.text


def test_chunked_bodies_over_the_limit_are_refused(client: Client, recorder: Recorder) -> None:
    headers, body = delivery("post_created", post_payload(raw="y" * MAX_BODY))
    response = client.post("/webhooks/community/forum", input_stream=io.BytesIO(body),
                           headers={**headers, "Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413 and recorder.calls == []
