"""The WeCom emulation itself: its API answers like WeCom's and its controls refuse bad input (members writing
to the hub through it: test_wecom_hub)."""

from __future__ import annotations

from typing import Any

import pytest

from hub.sandbox.wecom import SandboxState, create_sandbox_app

APP = {"corpid": "wwcorp1", "secret": "sec", "agentid": 1000002, "members": ["zhangsan"]}


@pytest.fixture
def client() -> Any:
    sandbox = create_sandbox_app(SandboxState())
    client = sandbox.test_client()
    assert client.post("/sandbox/apps", json=APP).status_code == 201
    return client


def token(client: Any) -> str:
    return client.get("/cgi-bin/gettoken?corpid=wwcorp1&corpsecret=sec").get_json()["access_token"]


def send(client: Any, access_token: str, **payload: Any) -> dict[str, Any]:
    body = {"touser": "zhangsan", "msgtype": "text", "agentid": 1000002, "text": {"content": "hi"}} | payload
    return client.post(f"/cgi-bin/message/send?access_token={access_token}", json=body).get_json()


def test_the_app_listing_hides_credentials(client: Any) -> None:
    listed = client.post("/sandbox/apps", json=APP | {"token": "t0ken", "aes_key": "k" * 43}).get_json()
    assert "secret" not in listed and "token" not in listed and "aes_key" not in listed


@pytest.mark.parametrize("query, errcode", [
    ("corpid=wwcorp1&corpsecret=wrong", 40001), ("corpid=nope&corpsecret=sec", 40013), ("corpsecret=sec", 41002),
    ("corpid=wwcorp1", 41004),
])
def test_gettoken_errors(client: Any, query: str, errcode: int) -> None:
    body = client.get(f"/cgi-bin/gettoken?{query}").get_json()
    assert body["errcode"] == errcode and "access_token" not in body


def test_message_send_checks_like_wecom(client: Any) -> None:
    first = token(client)
    assert send(client, first)["errcode"] == 0
    assert send(client, first, touser="zhangsan|ghost")["invaliduser"] == "ghost"
    assert send(client, first, touser="ghost")["errcode"] == 81013
    assert send(client, first, touser="")["errcode"] == 82001
    assert send(client, first, agentid=1)["errcode"] == 40056
    assert send(client, first, msgtype="image")["errcode"] == 40008
    assert send(client, first, text={"content": ""})["errcode"] == 44004
    assert send(client, "")["errcode"] == 41001
    second = token(client)
    assert send(client, first)["errcode"] == 40014  # superseded by the new token
    assert send(client, second)["errcode"] == 0
    client.post("/sandbox/tokens/expire")
    assert send(client, second)["errcode"] == 42001
    outbox = client.get("/sandbox/outbox?touser=zhangsan").get_json()
    assert [m["text"]["content"] for m in outbox] == ["hi", "hi", "hi"]


def test_faults_are_answered_then_cleared(client: Any) -> None:
    assert client.post("/sandbox/faults", json={"endpoint": "message/send", "errcode": -1, "count": 2}).status_code \
        == 201
    access_token = token(client)
    assert [send(client, access_token)["errcode"] for _ in range(3)] == [-1, -1, 0]


@pytest.mark.parametrize("path, body", [
    ("/sandbox/apps", {"corpid": "x"}),
    ("/sandbox/apps", {"corpid": "x", "secret": "s", "agentid": "abc"}),
    ("/sandbox/apps", ["not", "an", "object"]),
    ("/sandbox/faults", {"endpoint": "menu/create", "errcode": 1}),
    ("/sandbox/members/zhangsan/say", {"corpid": "wwcorp1", "agentid": 1000002, "text": "hi"}),  # no webhook_url
])
def test_controls_refuse_bad_input(client: Any, path: str, body: Any) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 400 and response.get_json()["error"]


def test_unknown_api_paths_answer_json(client: Any) -> None:
    response = client.post("/cgi-bin/menu/create")
    assert response.status_code == 404 and response.get_json()["errcode"] == -1
