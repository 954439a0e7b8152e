"""Bad input through the whole hub: rejected with a 4xx and a log line, never stored, never a 500."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
import requests

from hub.intake.journal import flush_all
from tests.support.wechat_setup import messages, wire_account


@pytest.fixture
def brand(state: Any, live_hub: Any, sandbox: Any) -> Any:
    return wire_account(state, live_hub.url, sandbox.url, safe_mode=False)


def _signed(brand: Any, body: bytes, **overrides: Any) -> tuple[dict[str, str], bytes]:
    from hub.sandbox.wechat import FanSimulator

    params, _ = FanSimulator(brand.webhook, brand.token, brand.app_id).build_signed_request("fan", "hi")
    params.update(overrides)
    return params, body


def test_bad_requests_are_rejected_and_nothing_is_stored(
    brand: Any, state: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from hub.sandbox.wechat import FanSimulator

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


def test_other_methods_and_paths_get_a_4xx(brand: Any, state: Any) -> None:
    from hub.sandbox.wechat import FanSimulator

    params, body = FanSimulator(brand.webhook, brand.token, brand.app_id).build_signed_request("fan", "hi")
    put = requests.put(brand.webhook, params=params, data=body, timeout=10)
    assert put.status_code == 405 and "POST" in put.headers["Allow"]
    for path in ("/extra", "/"):  # below the key, and no key at all
        assert requests.post(brand.webhook + path, params=params, data=body, timeout=10).status_code == 404
    bare = brand.webhook.rsplit("/", 1)[0]
    assert requests.post(bare, params=params, data=body, timeout=10).status_code == 404
    assert messages(state) == []


def test_a_database_outage_answers_503_so_wechat_retries(
    brand: Any, state: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Not stored means not accepted: a 503 (never "success"), one log line, and WeChat's retry of the same
    delivery, once the database is back, is stored."""
    from sqlalchemy.exc import OperationalError

    import hub.intake.webhooks
    from hub.sandbox.wechat import FanSimulator

    def unreachable(*args: Any) -> Any:
        raise OperationalError("INSERT …", {}, ConnectionRefusedError("connection refused"))

    params, body = FanSimulator(brand.webhook, brand.token, brand.app_id).build_signed_request("fan", "hi", msg_id=7)
    caplog.set_level(logging.ERROR)
    with monkeypatch.context() as patch:
        patch.setattr(hub.intake.webhooks, "fan_for", unreachable)
        down = requests.post(brand.webhook, params=params, data=body, timeout=10)
    assert down.status_code == 503 and down.json() == {"error": "database unavailable, retry later"}
    assert [r.getMessage() for r in caplog.records if r.name == "hub.intake.webhooks"] == ["database unavailable"]
    assert messages(state) == []
    retried = requests.post(brand.webhook, params=params, data=body, timeout=10)
    assert retried.status_code == 200
    flush_all(state)  # journaled where the intake journal is on: stored within milliseconds
    assert len(messages(state)) == 1


def test_webhook_requests_are_counted_and_marked_nosniff(brand: Any, app: Any) -> None:
    first = brand.say("fan-m", text="hello")
    assert first["status"] == 200
    response = requests.post(brand.webhook, data=b"<xml/>", timeout=10)  # unsigned
    assert response.status_code == 403 and response.headers["X-Content-Type-Options"] == "nosniff"
    assert requests.request("BREW", brand.webhook, timeout=10).status_code == 405
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'method="other",status="405"' in metrics and "BREW" not in metrics  # a client cannot add series
    for status in ("200", "403"):
        line = f'hub_http_requests_total{{endpoint="/webhooks/wechat/<key>",method="POST",status="{status}"}}'
        assert line in metrics, status


def test_wechat_url_verification_through_the_hub(brand: Any, state: Any) -> None:
    """What WeChat does when an operator saves the server URL: a signed GET whose echostr must come back."""
    import hashlib

    timestamp, nonce, echostr = str(int(time.time())), "8461", "verify-me-1720"
    signature = hashlib.sha1("".join(sorted((brand.token, timestamp, nonce))).encode()).hexdigest()  # noqa: S324
    query = {"signature": signature, "timestamp": timestamp, "nonce": nonce, "echostr": echostr}
    verified = requests.get(brand.webhook, params=query, timeout=10)
    assert verified.status_code == 200 and verified.text == echostr
    forged = requests.get(brand.webhook, params={**query, "signature": "0" * 40}, timeout=10)
    assert forged.status_code == 403 and echostr not in forged.text
    assert messages(state) == []
