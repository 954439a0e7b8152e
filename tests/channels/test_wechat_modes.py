"""The WeChat webhook's account modes and its replay memory for plaintext messages (issue 17, items 3 and 4),
against the webhook alone; tests/intake/test_webhook_replay.py drives the same through the live hub and Redis."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

import pytest

from channels.base import AccountConfig
from channels.wechat.webhook import COMPATIBLE, PLAINTEXT, SAFE, message_mode
from tests.channels.conftest import ACCOUNTS, Recorder, Webhook, fixture_xml, make_client

TEXT_XML = fixture_xml("parse_text_message.xml")
OTHER_XML = TEXT_XML.replace("this is a test", "a forged message").replace("1234567890123456", "1234567890123457")


@dataclass
class DictMemory:
    """channels.base.ReplayMemory in a dict (the hub's is in Redis); `down` answers as an unreachable one."""

    values: dict[str, str] = field(default_factory=dict)
    ttls: dict[str, int] = field(default_factory=dict)
    down: bool = False

    def remember(self, key: str, value: str, ttl_seconds: int) -> str | None:
        if self.down:
            return None
        if key in self.values:
            return self.values[key]
        self.values[key], self.ttls[key] = value, ttl_seconds
        return None


def _hook(accounts: dict[str, AccountConfig] | None = None, **kw: object) -> Webhook:
    recorder = Recorder()
    return Webhook(make_client(recorder, accounts or ACCOUNTS, **kw), recorder)


def _with_mode(base: str, mode: object) -> dict[str, AccountConfig]:
    return {**ACCOUNTS, base: replace(ACCOUNTS[base], settings={"mode": mode})}


# -- modes ----------------------------------------------------------------------------------------------


def test_the_mode_follows_the_aes_key_unless_set() -> None:
    assert message_mode(ACCOUNTS["plain"]) == PLAINTEXT
    assert message_mode(ACCOUNTS["safe"]) == SAFE
    assert message_mode(_with_mode("safe", "compatible")["safe"]) == COMPATIBLE


def test_safe_mode_refuses_plaintext(caplog: pytest.LogCaptureFixture) -> None:
    hook = _hook()
    caplog.set_level(logging.WARNING, logger="channels.wechat")
    response = hook.post_plain(TEXT_XML, key="safe")
    assert response.status_code == 403
    assert "safe mode" in response.get_data(as_text=True)
    assert hook.recorder.calls == []
    assert len(caplog.records) == 1 and "status=403" in caplog.records[0].getMessage()


def test_an_unsigned_plaintext_request_to_a_safe_account_is_refused_for_its_signature() -> None:
    hook = _hook()
    response = hook.client.post(hook.url("safe", {"timestamp": str(int(time.time())), "nonce": "1"}), data=TEXT_XML)
    assert (response.status_code, response.get_data(as_text=True)) == (403, "missing or forged signature")


def test_compatible_mode_accepts_both() -> None:
    hook = _hook(_with_mode("safe", COMPATIBLE))
    assert hook.post_plain(TEXT_XML, key="safe").status_code == 200
    assert hook.post_safe(TEXT_XML, key="safe").status_code == 200
    assert [m.text for m in hook.recorder.calls] == ["this is a test", "this is a test"]


def test_plaintext_mode_refuses_encrypted_even_with_a_key() -> None:
    hook = _hook(_with_mode("safe", PLAINTEXT))
    response = hook.post_safe(TEXT_XML, key="safe")
    assert response.status_code == 403 and "plaintext mode" in response.get_data(as_text=True)
    assert hook.post_plain(TEXT_XML, key="safe").status_code == 200


def test_an_unknown_mode_is_a_misconfiguration(caplog: pytest.LogCaptureFixture) -> None:
    hook = _hook(_with_mode("safe", "Safe-ish"))
    with caplog.at_level(logging.ERROR, logger="channels.wechat"):
        response = hook.post_safe(TEXT_XML, key="safe")
    assert response.status_code == 403 and "misconfigured" in response.get_data(as_text=True)
    assert "Safe-ish" in caplog.text


# -- replay memory --------------------------------------------------------------------------------------


def test_a_different_body_under_a_seen_pair_is_refused_and_a_retry_goes_through() -> None:
    memory = DictMemory()
    hook = _hook(replay_memory=memory)
    now = int(time.time())
    assert hook.post_plain(TEXT_XML, timestamp=now, nonce="77").status_code == 200
    forged = hook.post_plain(OTHER_XML, timestamp=now, nonce="77")
    assert forged.status_code == 403 and "replayed" in forged.get_data(as_text=True)
    assert hook.post_plain(TEXT_XML, timestamp=now, nonce="77").status_code == 200  # a retry
    assert hook.post_plain(OTHER_XML, timestamp=now, nonce="78").status_code == 200  # a new pair
    assert [m.text for m in hook.recorder.calls] == ["this is a test", "this is a test", "a forged message"]
    assert set(memory.values) == {f"wechat:plain:{now}:77", f"wechat:plain:{now}:78"}


def test_the_pair_is_remembered_until_its_timestamp_leaves_the_window() -> None:
    memory = DictMemory()
    now = 1_800_000_000
    hook = _hook(replay_memory=memory, clock=lambda: now, replay_window_seconds=300)
    hook.post_plain(TEXT_XML, timestamp=now - 100, nonce="1")
    hook.post_plain(TEXT_XML, timestamp=now + 60, nonce="2")
    assert memory.ttls == {f"wechat:plain:{now - 100}:1": 201, f"wechat:plain:{now + 60}:2": 361}


def test_encrypted_messages_and_rejected_bodies_claim_no_pair() -> None:
    memory = DictMemory()
    hook = _hook(replay_memory=memory)
    now = int(time.time())
    assert hook.post_safe(TEXT_XML, timestamp=now, nonce="5").status_code == 200  # msg_signature covers it
    assert hook.post_plain(b"<xml><ToUserName>", timestamp=now, nonce="6").status_code == 400
    assert memory.values == {}
    assert hook.post_plain(TEXT_XML, timestamp=now, nonce="6").status_code == 200


def test_in_compatible_mode_an_encrypted_message_claims_its_pair_too() -> None:
    memory = DictMemory()
    hook = _hook(_with_mode("safe", COMPATIBLE), replay_memory=memory)
    now = int(time.time())
    body, query = hook.encrypted(TEXT_XML, timestamp=now, nonce="11")
    assert hook.client.post(hook.url("safe", query), data=body).status_code == 200
    stripped = {k: v for k, v in query.items() if k not in ("encrypt_type", "msg_signature")}
    forged = hook.client.post(hook.url("safe", stripped), data=OTHER_XML)
    assert forged.status_code == 403 and "replayed" in forged.get_data(as_text=True)
    assert hook.client.post(hook.url("safe", query), data=body).status_code == 200  # a retry
    assert [m.text for m in hook.recorder.calls] == ["this is a test", "this is a test"]


def test_an_unavailable_memory_lets_messages_through() -> None:
    hook = _hook(replay_memory=DictMemory(down=True))
    now = int(time.time())
    assert hook.post_plain(TEXT_XML, timestamp=now, nonce="9").status_code == 200
    assert hook.post_plain(OTHER_XML, timestamp=now, nonce="9").status_code == 200
