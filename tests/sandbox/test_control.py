from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from .conftest import AES_KEY, TOKEN, Receiver, Sandbox

Start = Callable[..., Receiver]


def post(sandbox: Sandbox, path: str, body: object) -> requests.Response:
    return requests.post(f"{sandbox.url}{path}", json=body, timeout=10)


def get(sandbox: Sandbox, path: str, **params: str) -> requests.Response:
    return requests.get(f"{sandbox.url}{path}", params=params, timeout=10)


@pytest.fixture
def hub(sandbox: Sandbox, receiver_factory: Start) -> Receiver:
    receiver = receiver_factory(aes_key=AES_KEY, appid="wx_demo")
    response = post(
        sandbox,
        "/sandbox/apps",
        {"appid": "wx_demo", "secret": "s3cret", "webhook_url": receiver.url, "token": TOKEN, "aes_key": AES_KEY},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["mode"] == "safe"
    assert "secret" not in body and "aes_key" not in body and "token" not in body
    return receiver


def test_say_delivers_to_the_hub_and_returns_the_decrypted_reply(sandbox: Sandbox, hub: Receiver) -> None:
    response = post(sandbox, "/sandbox/fans/o_fan/say", {"appid": "wx_demo", "text": "你好"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == 200 and body["ok"] is True
    assert body["reply_text"] == "echo: 你好"
    assert body["fan"]["window_open"] is True and body["fan"]["quota_left"] == 5
    [msg] = hub.received
    assert (msg.source, msg.content) == ("o_fan", "你好")
    assert hub.queries[0]["encrypt_type"] == "aes"
    directions = [(e["direction"], e["text"]) for e in get(sandbox, "/sandbox/conversation", appid="wx_demo").json()]
    assert directions == [("in", "你好"), ("passive", "echo: 你好")]


def test_say_opens_the_window_for_customer_service_messages(sandbox: Sandbox, hub: Receiver) -> None:
    client = sandbox.client("wx_demo", "s3cret")
    post(sandbox, "/sandbox/fans/o_fan/say", {"appid": "wx_demo", "event": "subscribe", "key": "qrscene_7"})
    assert hub.received[0].event == "subscribe_scan"
    assert client.user.get("o_fan")["qr_scene"] == 7
    client.message.send_text("o_fan", "welcome <b>back</b>")
    [sent] = get(sandbox, "/sandbox/outbox", appid="wx_demo", openid="o_fan").json()
    assert sent["text_content"] == "welcome <b>back</b>"
    assert get(sandbox, "/sandbox/outbox", appid="wx_demo", openid="o_other").json() == []
    page = get(sandbox, "/").text
    assert "welcome &lt;b&gt;back&lt;/b&gt;" in page
    assert "<b>back</b>" not in page
    assert "o_fan" in page and "s3cret" not in page


def test_say_click_and_custom_message_types(sandbox: Sandbox, hub: Receiver) -> None:
    hub.respond = lambda msg: "success"
    body = post(sandbox, "/sandbox/fans/o1/say", {"appid": "wx_demo", "event": "click", "key": "MENU_FAQ"}).json()
    assert body["ok"] and body["reply"] is None
    post(
        sandbox,
        "/sandbox/fans/o1/say",
        {"appid": "wx_demo", "msg_type": "image", "fields": {"PicUrl": "http://x/p.jpg", "MediaId": "m1"}},
    )
    click, image = hub.received
    assert (click.event, click.key) == ("click", "MENU_FAQ")
    assert (image.type, image.image) == ("image", "http://x/p.jpg")


def test_say_rejections(sandbox: Sandbox, hub: Receiver) -> None:
    assert post(sandbox, "/sandbox/fans/o1/say", {"appid": "wx_nope", "text": "hi"}).status_code == 404
    assert post(sandbox, "/sandbox/fans/o1/say", {"appid": "wx_demo"}).status_code == 400
    assert post(sandbox, "/sandbox/fans/o1/say", {"appid": "wx_demo", "text": ""}).status_code == 400
    assert post(sandbox, "/sandbox/fans/o1/say", ["not", "an", "object"]).status_code == 400
    post(sandbox, "/sandbox/apps", {"appid": "wx_quiet", "secret": "s"})
    response = post(sandbox, "/sandbox/fans/o1/say", {"appid": "wx_quiet", "text": "hi"})
    assert response.status_code == 409 and "webhook" in response.json()["error"]
    assert hub.received == []


def test_unreachable_hub_still_records_the_interaction(sandbox: Sandbox) -> None:
    post(
        sandbox,
        "/sandbox/apps",
        {"appid": "wx_down", "secret": "s", "webhook_url": "http://127.0.0.1:9/hook", "token": TOKEN},
    )
    response = post(sandbox, "/sandbox/fans/o1/say", {"appid": "wx_down", "text": "anyone?", "attempts": 1})
    assert response.status_code == 502
    assert response.json()["error"].startswith("cannot reach")
    assert response.json()["fan"]["window_open"] is True
    assert sandbox.state.stats()["delivery_errors"] == 1


@pytest.mark.parametrize(
    "app",
    [
        {"appid": "wx_x"},
        {"appid": "wx_x", "secret": "s", "aes_key": "short"},
        {"appid": "wx_x", "secret": "s", "mode": "safe"},
        {"appid": "wx_x", "secret": "s", "mode": "weird", "aes_key": AES_KEY},
        {"appid": "wx_x", "secret": "s", "webhook_url": "http://h/"},
        {"appid": 5, "secret": "s"},
    ],
)
def test_invalid_app_registrations(sandbox: Sandbox, app: dict) -> None:
    response = post(sandbox, "/sandbox/apps", app)
    assert response.status_code == 400
    assert response.json()["error"]
    assert sandbox.state.apps() == []


def test_fans_stats_clock_and_reset(sandbox: Sandbox) -> None:
    post(sandbox, "/sandbox/apps", {"appid": "wx_a", "secret": "s"})
    assert post(sandbox, "/sandbox/fans", {"appid": "wx_a", "openid": "o1", "unionid": "u1"}).status_code == 201
    assert post(sandbox, "/sandbox/fans", {"appid": "wx_zz", "openid": "o1"}).status_code == 404
    [fan] = get(sandbox, "/sandbox/fans", appid="wx_a").json()
    assert (fan["openid"], fan["unionid"], fan["window_open"]) == ("o1", "u1", False)
    sandbox.state.record_interaction("wx_a", "o1", "text")
    assert get(sandbox, "/sandbox/fans").json()[0]["window_open"] is True
    assert post(sandbox, "/sandbox/clock", {"advance": 48 * 3600}).status_code == 200
    assert get(sandbox, "/sandbox/fans").json()[0]["window_open"] is False
    assert post(sandbox, "/sandbox/clock", {"advance": -1}).status_code == 400
    stats = get(sandbox, "/sandbox/stats").json()
    assert stats["apps"] == 1 and stats["fans"] == 1 and stats["token_requests"] == 0
    post(sandbox, "/sandbox/reset", {"keep_apps": True})
    assert [a["appid"] for a in get(sandbox, "/sandbox/apps").json()] == ["wx_a"]
    assert get(sandbox, "/sandbox/fans").json() == []
    post(sandbox, "/sandbox/reset", {})
    assert get(sandbox, "/sandbox/apps").json() == []


def test_page_lists_accounts_and_escapes_fan_text(sandbox: Sandbox, hub: Receiver) -> None:
    post(sandbox, "/sandbox/fans/o_x/say", {"appid": "wx_demo", "text": "<script>alert(1)</script>"})
    page = get(sandbox, "/", appid="wx_demo")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>alert(1)" not in page.text
    assert "wx_demo" in page.text
