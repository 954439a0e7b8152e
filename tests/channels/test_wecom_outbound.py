"""WeComChannel.send against the WeCom emulation over real HTTP, with the token shared in a real Redis."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests

from channels.base import AccountConfig, OutboundMessage, PermanentSendError, TransientSendError
from channels.wecom import WeComChannel
from hub.outbound.token_cache import RedisTokenCache
from hub.sandbox.wecom import SandboxState, make_sandbox_server
from tests.support.servers import LiveServer

CORP_ID, SECRET, AGENT_ID = "wwcorp000000000001", "wecom-secret-do-not-log", 1000002


class SandboxServer(LiveServer):
    """The emulation on its own threaded server, which masks secrets and tokens in its request log."""

    def __init__(self) -> None:
        self.state = SandboxState()
        self.server = make_sandbox_server("127.0.0.1", 0, self.state)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()


@pytest.fixture
def wecom_api() -> Iterator[LiveServer]:
    server = SandboxServer()
    response = requests.post(f"{server.url}/sandbox/apps", json={
        "corpid": CORP_ID, "secret": SECRET, "agentid": AGENT_ID, "members": ["zhangsan", "lisi"]}, timeout=5)
    assert response.status_code == 201
    yield server
    server.close()


@pytest.fixture
def cache(redis_server: Any) -> RedisTokenCache:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    return RedisTokenCache(client)


def channel(api: LiveServer, cache: RedisTokenCache, secret: str = SECRET, agent_id: Any = AGENT_ID) -> WeComChannel:
    config = AccountConfig(key="corp", channel="wecom", token="t", app_id=CORP_ID, app_secret=secret,
                           aes_key="x" * 43, api_base=api.url, settings={"agent_id": str(agent_id)})
    return WeComChannel.from_account(config, cache)


def text(body: str = "您好", to: str = "zhangsan") -> OutboundMessage:
    return OutboundMessage(account="corp", recipient=to, text=body)


def outbox(api: LiveServer, touser: str | None = None) -> list[dict[str, Any]]:
    params = {"touser": touser} if touser else {}
    return requests.get(f"{api.url}/sandbox/outbox", params=params, timeout=5).json()


def fault(api: LiveServer, endpoint: str, errcode: int, count: int = 1) -> None:
    body = {"endpoint": endpoint, "errcode": errcode, "count": count}
    assert requests.post(f"{api.url}/sandbox/faults", json=body, timeout=5).status_code == 201


def stats(api: LiveServer) -> dict[str, Any]:
    return requests.get(f"{api.url}/sandbox/stats", timeout=5).json()


def test_send_delivers_a_text_to_the_member(wecom_api: LiveServer, cache: RedisTokenCache) -> None:
    msgid = channel(wecom_api, cache).send(text("您好，订单已发货"))
    (sent,) = outbox(wecom_api, "zhangsan")
    assert sent["text"] == {"content": "您好，订单已发货"} and sent["agentid"] == AGENT_ID and sent["msgid"] == msgid


def test_the_token_is_fetched_once_and_shared(wecom_api: LiveServer, cache: RedisTokenCache) -> None:
    first, second = channel(wecom_api, cache), channel(wecom_api, cache)  # as two processes would
    threads = [threading.Thread(target=c.send, args=(text(f"m{i}"),)) for i, c in enumerate([first, second] * 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(outbox(wecom_api)) == 8
    assert stats(wecom_api)["token_fetches"] == 1
    assert cache.get(f"wecom:access_token:{CORP_ID}:{AGENT_ID}")


@pytest.mark.parametrize("errcode", [42001, 40014])
def test_a_rejected_token_is_refreshed_and_the_send_retried(
    wecom_api: LiveServer, cache: RedisTokenCache, errcode: int
) -> None:
    ch = channel(wecom_api, cache)
    ch.send(text("one"))
    fault(wecom_api, "message/send", errcode)
    ch.send(text("two"))
    assert [m["text"]["content"] for m in outbox(wecom_api)] == ["one", "two"]
    assert stats(wecom_api)["token_fetches"] == 2


def test_expired_tokens_are_replaced(wecom_api: LiveServer, cache: RedisTokenCache) -> None:
    ch = channel(wecom_api, cache)
    ch.send(text("one"))
    requests.post(f"{wecom_api.url}/sandbox/tokens/expire", timeout=5)
    ch.send(text("two"))
    assert len(outbox(wecom_api)) == 2 and stats(wecom_api)["token_fetches"] == 2


def test_a_token_rejected_twice_is_a_permanent_failure(wecom_api: LiveServer, cache: RedisTokenCache) -> None:
    fault(wecom_api, "message/send", 40014, count=2)
    with pytest.raises(PermanentSendError) as info:
        channel(wecom_api, cache).send(text())
    assert info.value.code == 40014


@pytest.mark.parametrize("errcode", [-1, 45009])
def test_busy_and_rate_limits_are_transient(wecom_api: LiveServer, cache: RedisTokenCache, errcode: int) -> None:
    fault(wecom_api, "message/send", errcode)
    with pytest.raises(TransientSendError) as info:
        channel(wecom_api, cache).send(text())
    assert info.value.code == errcode
    channel(wecom_api, cache).send(text())  # the next try goes through
    assert len(outbox(wecom_api)) == 1


def test_a_member_outside_the_apps_range_is_permanent(wecom_api: LiveServer, cache: RedisTokenCache) -> None:
    with pytest.raises(PermanentSendError) as info:
        channel(wecom_api, cache).send(text(to="stranger"))
    assert info.value.code == 81013 and "visible range" in info.value.message


def test_a_wrong_secret_is_permanent_and_never_logged(
    wecom_api: LiveServer, cache: RedisTokenCache, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG), pytest.raises(PermanentSendError) as info:
        channel(wecom_api, cache, secret="wrong-secret-do-not-log").send(text())
    assert info.value.code == 40001 and "Secret" in info.value.message
    assert "wrong-secret-do-not-log" not in caplog.text and "wrong-secret-do-not-log" not in str(info.value)


def test_gettoken_busy_is_transient(wecom_api: LiveServer, cache: RedisTokenCache) -> None:
    fault(wecom_api, "gettoken", -1)
    with pytest.raises(TransientSendError):
        channel(wecom_api, cache).send(text())


def test_a_wrong_agent_id_is_permanent(wecom_api: LiveServer, cache: RedisTokenCache) -> None:
    with pytest.raises(PermanentSendError) as info:
        channel(wecom_api, cache, agent_id=999).send(text())
    assert info.value.code == 40056


def test_unreachable_api_is_transient(cache: RedisTokenCache) -> None:
    config = AccountConfig(key="corp", channel="wecom", app_id=CORP_ID, app_secret=SECRET,
                           api_base="http://127.0.0.1:9", settings={"agent_id": "1"})
    with pytest.raises(TransientSendError) as info:
        WeComChannel.from_account(config, cache).send(text())
    assert info.value.code == "network"


def test_what_wecom_cannot_send(wecom_api: LiveServer, cache: RedisTokenCache) -> None:
    ch = channel(wecom_api, cache)
    for message in (OutboundMessage("corp", "zhangsan", kind="transfer"), text(""), text("长" * 700)):
        with pytest.raises(PermanentSendError):
            ch.send(message)
    assert outbox(wecom_api) == [] and stats(wecom_api)["token_fetches"] == 0
