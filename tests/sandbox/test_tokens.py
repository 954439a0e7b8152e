from __future__ import annotations

import logging

import pytest
import requests
from wechatpy.exceptions import WeChatClientException

from hub.sandbox.wechat import ApiError, SandboxState

from .conftest import Sandbox


def token(sandbox: Sandbox, **params: str) -> dict:
    query = {"grant_type": "client_credential", **params}
    return requests.get(f"{sandbox.url}/cgi-bin/token", params=query, timeout=5).json()


def test_token_is_issued_with_the_real_shape(sandbox: Sandbox) -> None:
    sandbox.state.register_app("wx_a", "secret_a")
    body = token(sandbox, appid="wx_a", secret="secret_a")
    assert set(body) == {"access_token", "expires_in"}
    assert body["expires_in"] == 7200
    assert len(body["access_token"]) > 100
    stats = sandbox.state.stats()
    assert stats["token_requests"] == 1
    assert stats["token_requests_by_app"] == {"wx_a": 1}


@pytest.mark.parametrize(
    ("params", "errcode"),
    [
        ({"appid": "wx_nope", "secret": "secret_a"}, 40013),
        ({"appid": "wx_a", "secret": "wrong"}, 40125),
        ({"appid": "wx_a"}, 41004),
        ({"secret": "secret_a"}, 41002),
        ({"appid": "wx_a", "secret": "secret_a", "grant_type": "password"}, 40002),
    ],
)
def test_token_errors(sandbox: Sandbox, params: dict[str, str], errcode: int) -> None:
    sandbox.state.register_app("wx_a", "secret_a")
    body = token(sandbox, **params)
    assert body["errcode"] == errcode
    assert "access_token" not in body
    assert body["errmsg"]


def test_wechatpy_fetches_one_token_and_reuses_it(sandbox: Sandbox) -> None:
    sandbox.state.register_app("wx_a", "secret_a")
    sandbox.state.add_fan("wx_a", "o1")
    client = sandbox.client("wx_a", "secret_a")
    for _ in range(3):
        assert client.user.get("o1")["openid"] == "o1"
    assert sandbox.state.stats()["token_requests"] == 1


def test_wrong_secret_surfaces_in_wechatpy(sandbox: Sandbox) -> None:
    sandbox.state.register_app("wx_a", "secret_a")
    with pytest.raises(WeChatClientException) as info:
        sandbox.client("wx_a", "bad").user.get("o1")
    assert info.value.errcode == 40125


def test_expired_token_gives_42001_and_wechatpy_recovers(sandbox: Sandbox) -> None:
    sandbox.state.register_app("wx_a", "secret_a")
    sandbox.state.add_fan("wx_a", "o1")
    strict = sandbox.client("wx_a", "secret_a", auto_retry=False)
    strict.user.get("o1")
    sandbox.state.advance(7200)
    with pytest.raises(WeChatClientException) as info:
        strict.user.get("o1")
    assert info.value.errcode == 42001

    retrying = sandbox.client("wx_a", "secret_a", access_token=strict.session.get(strict.access_token_key))
    assert retrying.user.get("o1")["openid"] == "o1"  # 42001 -> fetches a new token -> retries
    assert sandbox.state.stats()["token_requests"] == 2


def test_old_token_stays_valid_for_the_grace_period_after_a_refresh(sandbox: Sandbox) -> None:
    state = sandbox.state
    state.register_app("wx_a", "secret_a")
    state.add_fan("wx_a", "o1")
    first = token(sandbox, appid="wx_a", secret="secret_a")["access_token"]
    second = token(sandbox, appid="wx_a", secret="secret_a")["access_token"]
    assert first != second

    def info(access_token: str) -> dict:
        url = f"{sandbox.url}/cgi-bin/user/info"
        return requests.get(url, params={"access_token": access_token, "openid": "o1"}, timeout=5).json()

    assert info(first)["openid"] == "o1"
    state.advance(state.token_grace - 1)
    assert info(first)["openid"] == "o1"
    state.advance(2)
    assert info(first)["errcode"] == 40001
    assert info(second)["openid"] == "o1"


def test_missing_and_unknown_tokens(sandbox: Sandbox) -> None:
    url = f"{sandbox.url}/cgi-bin/user/info"
    assert requests.get(url, params={"openid": "o1"}, timeout=5).json()["errcode"] == 41001
    body = requests.get(url, params={"openid": "o1", "access_token": "forged"}, timeout=5).json()
    assert body["errcode"] == 40001


def test_token_ttl_is_configurable() -> None:
    state = SandboxState(token_ttl=60)
    state.register_app("wx_a", "s")
    issued = state.issue_token("client_credential", "wx_a", "s")
    assert issued.expires_at - issued.issued_at == 60
    assert state.authenticate(issued.value) == "wx_a"
    state.advance(60)
    with pytest.raises(ApiError) as info:
        state.authenticate(issued.value)
    assert info.value.errcode == 42001


def test_secrets_and_tokens_are_not_logged(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.state.register_app("wx_a", "very-secret-value")
    sandbox.state.record_interaction("wx_a", "o1", "text")
    client = sandbox.client("wx_a", "very-secret-value")
    client.message.send_text("o1", "hi")
    requests.get(f"{sandbox.url}/cgi-bin/user/info", params={"access_token": "forged-token", "openid": "o1"}, timeout=5)
    # The client side (urllib3) logs full URLs at DEBUG; what matters is what the sandbox logs.
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(("werkzeug", "hub.")))
    assert "GET /cgi-bin/token" in logged  # the request log is there ...
    assert "very-secret-value" not in logged  # ... without the secret
    assert client.access_token not in logged
    assert "forged-token" not in logged
