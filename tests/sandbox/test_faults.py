from __future__ import annotations

import time

import pytest
import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from .conftest import Sandbox


def add_fault(sandbox: Sandbox, **fault: object) -> requests.Response:
    return requests.post(f"{sandbox.url}/sandbox/faults", json=fault, timeout=5)


def test_next_n_calls_fail_with_the_errcode(sandbox: Sandbox, app_a: WeChatClient) -> None:
    sandbox.state.record_interaction("wx_a", "o1", "text")
    assert add_fault(sandbox, endpoint="message/custom/send", count=2, errcode=45009).status_code == 201
    for _ in range(2):
        with pytest.raises(WeChatClientException) as info:
            app_a.message.send_text("o1", "hi")
        assert info.value.errcode == 45009
    app_a.message.send_text("o1", "third time")
    assert [m["text_content"] for m in sandbox.state.outbox()] == ["third time"]
    assert sandbox.state.stats()["calls"]["message/custom/send"] == 3
    assert requests.get(f"{sandbox.url}/sandbox/faults", timeout=5).json() == []


def test_http_status_fault(sandbox: Sandbox, app_a: WeChatClient) -> None:
    sandbox.state.add_fan("wx_a", "o1")
    add_fault(sandbox, endpoint="/cgi-bin/user/info", http_status=503)
    with pytest.raises(WeChatClientException) as info:
        app_a.user.get("o1")
    assert info.value.errcode is None
    assert info.value.response.status_code == 503
    assert app_a.user.get("o1")["openid"] == "o1"


def test_token_fault_and_app_scoping(sandbox: Sandbox, app_a: WeChatClient) -> None:
    sandbox.state.register_app("wx_b", "secret_b")
    sandbox.state.add_fan("wx_a", "o1")
    sandbox.state.add_fan("wx_b", "o2")
    add_fault(sandbox, endpoint="token", errcode=-1, appid="wx_b")
    assert app_a.user.get("o1")["openid"] == "o1"  # wx_a is not affected
    client_b = sandbox.client("wx_b", "secret_b")
    with pytest.raises(WeChatClientException) as info:
        client_b.user.get("o2")
    assert info.value.errcode == -1
    assert client_b.user.get("o2")["openid"] == "o2"


def test_delay_fault(sandbox: Sandbox, app_a: WeChatClient) -> None:
    sandbox.state.add_fan("wx_a", "o1")
    app_a.user.get("o1")
    add_fault(sandbox, endpoint="user/info", delay_s=0.5, errcode=45011)
    started = time.monotonic()
    with pytest.raises(WeChatClientException):
        app_a.user.get("o1")
    assert time.monotonic() - started >= 0.5


@pytest.mark.parametrize(
    "fault",
    [{}, {"endpoint": "token", "count": 0}, {"endpoint": "token", "http_status": 200}, {"endpoint": "x", "count": "a"}],
)
def test_invalid_faults_are_rejected(sandbox: Sandbox, fault: dict) -> None:
    response = add_fault(sandbox, **fault)
    assert response.status_code == 400
    assert response.json()["error"]
    assert sandbox.state.faults.pending() == []


def test_unknown_api_paths_answer_json(sandbox: Sandbox) -> None:
    response = requests.get(f"{sandbox.url}/cgi-bin/menu/create", timeout=5)
    assert response.status_code == 404
    assert response.json()["errcode"] == -1
    response = requests.get(f"{sandbox.url}/cgi-bin/message/custom/send", timeout=5)
    assert response.status_code == 405
    assert "errcode" in response.json()
