"""Issue 17, items 3 and 4, through the live hub over HTTP: an account's mode decides whether plaintext and
encrypted messages are accepted, and a signed plaintext-mode request URL carries only the body it was
signed with (the (timestamp, nonce) pairs are remembered in Redis for the replay window)."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
import requests
import xmltodict
from sqlmodel import select

from hub.core.db import session_scope
from hub.core.models import Account
from hub.intake.journal import flush_all
from tests.support.wechat_setup import WiredAccount, add_rule, messages, wire_account


def _simulator(account: WiredAccount, mode: str | None = None) -> Any:
    from hub.sandbox.wechat import FanSimulator

    return FanSimulator(account.webhook, account.token, account.app_id, account.aes_key, mode=mode)  # type: ignore[arg-type]


def _set_mode(state: Any, key: str, mode: str) -> None:
    with session_scope(state.engine) as session:
        account = session.exec(select(Account).where(Account.key == key)).one()
        account.settings = {**(account.settings or {}), "mode": mode}
        session.add(account)


def _text(openid: str, text: str, msg_id: int) -> tuple[str, str, dict[str, Any]]:
    return openid, "text", {"Content": text, "MsgId": msg_id}


def _post(account: WiredAccount, params: dict[str, str], body: bytes) -> requests.Response:
    return requests.post(account.webhook, params=params, data=body, timeout=10)


def _rejections(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "wechat webhook rejected" in r.getMessage()]


def _stored(state: Any) -> list[str]:
    flush_all(state)
    return [m.text for m in messages(state, "in")]


# -- item 3: the account's mode ------------------------------------------------------------------------


def test_a_safe_mode_account_refuses_a_captured_url_stripped_of_its_encryption(
    state: Any, live_hub: Any, sandbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    brand = wire_account(state, live_hub.url, sandbox.url, safe_mode=True)
    signed = _simulator(brand).build(*_text("fan-s", "真的消息", 9001))
    assert _post(brand, signed.params, signed.body).status_code == 200

    # The captured URL without encrypt_type and msg_signature still has a valid `signature` (token, timestamp
    # and nonce), and the plaintext body is not authenticated at all.
    stripped = {k: v for k, v in signed.params.items() if k not in ("encrypt_type", "msg_signature")}
    forged = signed.xml.replace("真的消息", "伪造的消息").replace("9001", "9002").encode()
    caplog.set_level(logging.WARNING)
    response = _post(brand, stripped, forged)
    assert response.status_code == 403
    assert "safe mode" in response.text
    (line,) = _rejections(caplog)
    assert "status=403" in line and "safe mode" in line and brand.token not in line
    assert _stored(state) == ["真的消息"]


def test_a_compatible_mode_account_accepts_both(state: Any, live_hub: Any, sandbox: Any) -> None:
    brand = wire_account(state, live_hub.url, sandbox.url, safe_mode=True)
    _set_mode(state, brand.key, "compatible")
    encrypted = _simulator(brand, "compatible").build(*_text("fan-c", "加密的", 9101))
    plain = _simulator(brand, "plain").build(*_text("fan-c", "明文的", 9102))
    assert _post(brand, encrypted.params, encrypted.body).status_code == 200
    assert _post(brand, plain.params, plain.body).status_code == 200
    # Plaintext is accepted here, so the encrypted message's URL stripped of its encryption is the threat.
    stripped = {k: v for k, v in encrypted.params.items() if k not in ("encrypt_type", "msg_signature")}
    forged = encrypted.xml.replace("加密的", "伪造的").replace("9101", "9103").encode()
    assert _post(brand, stripped, forged).status_code == 403
    assert sorted(_stored(state)) == sorted(["加密的", "明文的"])


def test_a_plaintext_mode_account_refuses_encrypted_messages(state: Any, live_hub: Any, sandbox: Any) -> None:
    brand = wire_account(state, live_hub.url, sandbox.url, safe_mode=True)
    _set_mode(state, brand.key, "plaintext")
    encrypted = _simulator(brand, "safe").build(*_text("fan-p", "加密的", 9201))
    plain = _simulator(brand, "plain").build(*_text("fan-p", "明文的", 9202))
    response = _post(brand, encrypted.params, encrypted.body)
    assert response.status_code == 403 and "plaintext mode" in response.text
    assert _post(brand, plain.params, plain.body).status_code == 200
    assert _stored(state) == ["明文的"]


# -- item 4: replayed plaintext-mode URLs --------------------------------------------------------------


def test_a_captured_plaintext_url_carries_only_its_own_body(
    state: Any, live_hub: Any, sandbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    brand = wire_account(state, live_hub.url, sandbox.url, safe_mode=False)
    add_rule(state, brand.key, "keyword", "旗舰款 2999 元", pattern="价格")
    signed = _simulator(brand).build(*_text("fan-1", "价格", 9301))
    first = _post(brand, signed.params, signed.body)
    assert first.status_code == 200 and "旗舰款 2999 元" in first.text

    caplog.set_level(logging.WARNING)
    # Another fan, another message, under the captured (timestamp, nonce, signature): refused.
    forged = signed.xml.replace("fan-1", "fan-2").replace("9301", "9302").encode()
    response = _post(brand, signed.params, forged)
    assert response.status_code == 403 and "replayed" in response.text
    (line,) = _rejections(caplog)
    assert "status=403" in line and "replayed" in line

    # A true retry (the same body under the same URL) is answered as a retry: the same passive reply.
    retry = _post(brand, signed.params, signed.body)
    assert retry.status_code == 200
    assert xmltodict.parse(retry.text)["xml"]["Content"] == "旗舰款 2999 元"
    assert _stored(state) == ["价格"]
    assert len(_rejections(caplog)) == 1


def test_the_replay_memory_is_per_account(state: Any, live_hub: Any, sandbox: Any) -> None:
    one = wire_account(state, live_hub.url, sandbox.url, safe_mode=False, key="one")
    two = wire_account(state, live_hub.url, sandbox.url, safe_mode=False, key="two")
    with session_scope(state.engine) as session:  # the same Token on both accounts: the same signatures
        account = session.exec(select(Account).where(Account.key == "two")).one()
        account.token = one.token
        session.add(account)
    now = int(time.time())
    signed = _simulator(one).build(*_text("fan-a", "第一个号", 9401), timestamp=now, nonce="424242")
    other = _simulator(one).build(*_text("fan-b", "第二个号", 9402), timestamp=now, nonce="424242")
    assert signed.params["signature"] == other.params["signature"]
    assert _post(one, signed.params, signed.body).status_code == 200
    assert _post(two, other.params, other.body).status_code == 200
    assert sorted(_stored(state)) == sorted(["第一个号", "第二个号"])


def test_the_pairs_expire_with_the_replay_window(state: Any, live_hub: Any, sandbox: Any) -> None:
    brand = wire_account(state, live_hub.url, sandbox.url, safe_mode=False)
    signed = _simulator(brand).build(*_text("fan-t", "你好", 9501))
    assert _post(brand, signed.params, signed.body).status_code == 200
    keys = [k.decode() for k in state.redis.scan_iter("hub:replay:*")]
    assert keys == [f"hub:replay:wechat:{brand.key}:{signed.params['timestamp']}:{signed.params['nonce']}"]
    ttl = state.redis.ttl(keys[0])
    assert state.config.replay_window_seconds - 5 <= ttl <= state.config.replay_window_seconds + 1


def test_without_redis_plaintext_messages_are_accepted_unchecked(
    state: Any, live_hub: Any, sandbox: Any, redis_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Failing open: a Redis outage must not turn into lost fan messages (WeChat gives up after three tries)."""
    brand = wire_account(state, live_hub.url, sandbox.url, safe_mode=False)
    sim = _simulator(brand)
    caplog.set_level(logging.WARNING)
    redis_server.stop()
    try:
        for n in range(3):
            signed = sim.build(*_text("fan-r", f"第{n}条", 9601 + n))
            assert _post(brand, signed.params, signed.body).status_code == 200
    finally:
        redis_server.start()
    assert sorted(_stored(state)) == ["第0条", "第1条", "第2条"]
    warnings = [r.getMessage() for r in caplog.records if "replay memory unavailable" in r.getMessage()]
    assert len(warnings) == 1  # one per pause, not one per message
