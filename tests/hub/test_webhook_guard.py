"""Bad input through the whole hub: rejected with a 4xx and a log line, never stored, never a 500."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
import requests

from tests.hub.wechat_setup import messages, wire_account


@pytest.fixture
def brand(state: Any, live_hub: Any, sandbox: Any) -> Any:
    return wire_account(state, live_hub.url, sandbox.url, safe_mode=False)


def _signed(brand: Any, body: bytes, **overrides: Any) -> tuple[dict[str, str], bytes]:
    from hub.sandbox_wechat import FanSimulator

    params, _ = FanSimulator(brand.webhook, brand.token, brand.app_id).build_signed_request("fan", "hi")
    params.update(overrides)
    return params, body


def test_bad_requests_are_rejected_and_nothing_is_stored(
    brand: Any, state: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from hub.sandbox_wechat import FanSimulator

    fan = FanSimulator(brand.webhook, brand.token, brand.app_id)
    good_params, good_body = fan.build_signed_request("fan", "hi", msg_id=1)
    xxe = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><a>&e;</a></xml>'
    cases = {
        "forged signature": ({**good_params, "signature": "0" * 40}, good_body, 403),
        "missing signature": ({k: v for k, v in good_params.items() if k != "signature"}, good_body, 403),
        "stale timestamp": (_signed(brand, good_body, timestamp=str(int(time.time()) - 3600))[0], good_body, 403),
        "malformed xml": (good_params, b"<xml><ToUserName>", 400),
        "xxe": (good_params, xxe, 400),
        "invalid utf-8": (good_params, b"<xml><Content>\xff\xfe</Content></xml>", 400),
        "oversized": (good_params, b"<xml>" + b"a" * (70 * 1024) + b"</xml>", 413),
    }
    caplog.set_level(logging.WARNING)
    for name, (params, body, status) in cases.items():
        response = requests.post(brand.webhook, params=params, data=body, timeout=10)
        assert response.status_code == status, name
    unknown = requests.post(brand.webhook.replace("/brand", "/nope"), params=good_params, data=good_body, timeout=10)
    assert unknown.status_code == 404
    assert messages(state) == []
    rejected = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert len(rejected) == len(cases) + 1
    assert all(brand.token not in r.getMessage() for r in caplog.records)


def test_unknown_message_types_are_stored_not_dropped(brand: Any, state: Any, worker: Any) -> None:
    result = brand.say("fan-u", msg_type="miniprogrampage", fields={"Title": "小程序", "AppId": "wxmini"})
    assert result["status"] == 200
    worker()
    stored = messages(state, "in")
    assert len(stored) == 1 and stored[0].kind == "unknown" and "miniprogrampage" in stored[0].raw
    assert stored[0].status == "processed"
