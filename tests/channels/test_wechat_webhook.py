"""The WeChat webhook over HTTP: URL verification, the three modes, passive replies, rejected input."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
import requests
import xmltodict
from wechatpy import parse_message
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from werkzeug.serving import make_server

from channels.base import OUT_TRANSFER, AccountConfig, InboundMessage, OutboundMessage, WebhookRejected
from tests.channels.conftest import (
    AES_KEY,
    APP_ID,
    FIXTURES,
    MAX_BODY,
    TOKEN,
    Recorder,
    Webhook,
    fixture_xml,
    make_client,
    make_wsgi,
    plain_query,
    sha1_sign,
)

TEXT_XML = fixture_xml("parse_text_message.xml")
SECRETS = (TOKEN, AES_KEY, "s3cret")


def reply_text(text: str) -> Recorder:
    return Recorder(reply=lambda m: OutboundMessage(account=m.account, recipient=m.sender, text=text))


# -- URL verification ----------------------------------------------------------------------------------


def test_get_verification_echoes_echostr(webhook: Webhook) -> None:
    query = plain_query() | {"echostr": "4375120948345356249"}
    response = webhook.client.get(webhook.url("plain", query))
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "4375120948345356249"
    assert response.mimetype == "text/plain"


def test_get_verification_official_vector() -> None:
    vectors = json.loads((FIXTURES / "crypto_vectors.json").read_text())["oa_url_verify_get"]
    ts = int(vectors["query"]["timestamp"])
    account = AccountConfig(key="doc", channel="wechat", token=vectors["token"], app_id="x")
    client = make_client(Recorder(), {"doc": account}, clock=lambda: ts + 10)
    response = client.get("/webhooks/wechat/doc?" + urlencode(vectors["query"]))
    assert response.status_code == 200
    assert response.get_data(as_text=True) == vectors["expected_response_body"]


def test_get_verification_safe_mode_decrypts_echostr(webhook: Webhook) -> None:
    ts, nonce = str(int(time.time())), "263014780"
    echostr = PrpCrypto(webhook.crypto.key).encrypt("1616140317555161061", APP_ID).decode()
    msg_signature = sha1_sign(TOKEN, ts, nonce, echostr)
    # wechatpy agrees on what it decrypts to
    assert webhook.crypto._check_signature(msg_signature, ts, nonce, echostr, PrpCrypto) == "1616140317555161061"
    query = {"timestamp": ts, "nonce": nonce, "echostr": echostr, "msg_signature": msg_signature}
    response = webhook.client.get(webhook.url("safe", query))
    assert (response.status_code, response.get_data(as_text=True)) == (200, "1616140317555161061")
    forged = query | {"msg_signature": "0" * 40}
    assert webhook.client.get(webhook.url("safe", forged)).status_code == 403


@pytest.mark.parametrize(
    "query, status",
    [
        (plain_query() | {"echostr": "1", "signature": "f" * 40}, 403),
        ({"timestamp": str(int(time.time())), "nonce": "1", "echostr": "1"}, 403),
        (plain_query(timestamp=int(time.time()) - 3600) | {"echostr": "1"}, 403),
        (plain_query(), 400),
    ],
    ids=["forged", "missing-signature", "stale", "missing-echostr"],
)
def test_get_verification_rejects(webhook: Webhook, query: dict, status: int) -> None:
    assert webhook.client.get(webhook.url("plain", query)).status_code == status


# -- the three modes -----------------------------------------------------------------------------------


def test_plaintext_mode(webhook: Webhook) -> None:
    response = webhook.post_plain(TEXT_XML)
    assert (response.status_code, response.get_data(as_text=True)) == (200, "success")
    assert webhook.recorder.calls[0].text == "this is a test"


def test_safe_mode(webhook: Webhook) -> None:
    response = webhook.post_safe(TEXT_XML)
    assert (response.status_code, response.get_data(as_text=True)) == (200, "success")
    (msg,) = webhook.recorder.calls
    assert (msg.text, msg.account, msg.raw) == ("this is a test", "safe", TEXT_XML)


def test_compatible_mode_uses_only_the_authenticated_ciphertext(webhook: Webhook) -> None:
    body, query = webhook.encrypted(TEXT_XML)
    # compatible mode sends the plaintext fields too; they are not covered by msg_signature
    forged_plain = TEXT_XML.replace("this is a test", "forged").replace("</xml>", "")
    compat_body = forged_plain + body.removeprefix("<xml>")
    response = webhook.client.post(webhook.url("safe", query), data=compat_body)
    assert response.status_code == 200
    assert webhook.recorder.calls[0].text == "this is a test"


# -- passive replies -----------------------------------------------------------------------------------


def test_plaintext_text_reply() -> None:
    hook = Webhook(make_client(rec := reply_text("你好 ]]> there")), rec)
    response = hook.post_plain(TEXT_XML)
    assert response.status_code == 200 and response.mimetype == "application/xml"
    reply = parse_message(response.get_data(as_text=True))
    assert (reply.type, reply.content, reply.target, reply.source) == ("text", "你好 ]]> there", "fromUser", "toUser")


def test_encrypted_reply_decrypts_with_wechatpy() -> None:
    hook = Webhook(make_client(rec := reply_text("欢迎 welcome")), rec)
    response = hook.post_safe(TEXT_XML)
    assert response.status_code == 200
    envelope = xmltodict.parse(response.get_data(as_text=True))["xml"]
    assert set(envelope) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    plaintext = WeChatCrypto(TOKEN, AES_KEY, APP_ID).decrypt_message(
        response.get_data(as_text=True), envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
    )
    reply = parse_message(plaintext)
    assert (reply.type, reply.content, reply.target, reply.source) == ("text", "欢迎 welcome", "fromUser", "toUser")
    assert abs(int(envelope["TimeStamp"]) - time.time()) < 60


@pytest.mark.parametrize(
    "kf_account, official", [(None, "reply_transfer_customer_service.xml"),
                             ("test1@test", "reply_transfer_customer_service_to_kf.xml")]
)
@pytest.mark.parametrize("safe", [False, True])
def test_transfer_reply(kf_account: str | None, official: str, safe: bool) -> None:
    rec = Recorder(
        reply=lambda m: OutboundMessage(account=m.account, recipient=m.sender, kind=OUT_TRANSFER, kf_account=kf_account)
    )
    hook = Webhook(make_client(rec), rec)
    # the official reply sample answers fan "touser" on behalf of account "fromuser"
    xml = (
        "<xml><ToUserName><![CDATA[fromuser]]></ToUserName><FromUserName><![CDATA[touser]]></FromUserName>"
        "<CreateTime>1399197672</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        "<Content><![CDATA[人工]]></Content><MsgId>1</MsgId></xml>"
    )
    response = hook.post_safe(xml) if safe else hook.post_plain(xml)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    if safe:
        env = xmltodict.parse(body)["xml"]
        body = hook.crypto.decrypt_message(body, env["MsgSignature"], env["TimeStamp"], env["Nonce"])
    ours = xmltodict.parse(body)["xml"]
    expected = xmltodict.parse(fixture_xml(official))["xml"]
    for field in ("CreateTime",):
        ours.pop(field), expected.pop(field)
    assert ours == expected  # same fan/account (touser/fromuser), same MsgType, same TransInfo


def test_empty_text_reply_answers_success() -> None:
    hook = Webhook(make_client(rec := reply_text("")), rec)
    assert hook.post_plain(TEXT_XML).get_data(as_text=True) == "success"


def test_webhook_rejected_by_the_hub_becomes_its_4xx(caplog: pytest.LogCaptureFixture) -> None:
    def refuse(m: InboundMessage) -> None:
        raise WebhookRejected(409, "duplicate in flight")

    hook = Webhook(make_client(Recorder(reply=refuse)), Recorder())
    with caplog.at_level(logging.WARNING, logger="channels.wechat"):
        response = hook.post_plain(TEXT_XML)
    assert response.status_code == 409
    assert "duplicate in flight" in caplog.text


def test_other_exceptions_from_the_hub_propagate() -> None:
    def boom(m: InboundMessage) -> None:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError, match="database down"):
        Webhook(make_client(Recorder(reply=boom)), Recorder()).post_plain(TEXT_XML)


# -- rejected input ------------------------------------------------------------------------------------

XXE = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    "<xml><FromUserName>&xxe;</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>"
)
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 9))
    + "]><xml><Content>&lol8;</Content></xml>"
)
DOCTYPE_ONLY = '<!DOCTYPE xml><xml><FromUserName>f</FromUserName></xml>'


def _bad_requests(hook: Webhook) -> dict[str, tuple[object, int]]:
    now = int(time.time())
    other_app = WeChatCrypto(TOKEN, AES_KEY, "wx0000000000000000")
    wrong_app_body = xmltodict.parse(other_app.encrypt_message(TEXT_XML, "1", str(now)))["xml"]
    good_body, good_query = hook.encrypted(TEXT_XML)
    safe = lambda query, body: hook.client.post(hook.url("safe", query), data=body)  # noqa: E731
    chunked = hook.client.post(
        hook.url("plain", plain_query()),
        input_stream=io.BytesIO(b"<xml>" + b"a" * (MAX_BODY + 10) + b"</xml>"),
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    cut_short = hook.client.post(  # Content-Length promises more than arrives (a client gone mid-body)
        hook.url("plain", plain_query()), input_stream=io.BytesIO(TEXT_XML.encode()[:50]),
        headers={"Content-Length": str(len(TEXT_XML.encode()))},
    )
    return {
        "forged-signature": (hook.post_plain(TEXT_XML, token="not-the-token"), 403),
        "missing-signature": (hook.client.post(hook.url("plain", {"timestamp": str(now), "nonce": "1"}),
                                               data=TEXT_XML), 403),
        "stale-timestamp": (hook.post_plain(TEXT_XML, timestamp=now - 301), 403),
        "future-timestamp": (hook.post_plain(TEXT_XML, timestamp=now + 3600), 403),
        "garbage-timestamp": (hook.client.post(hook.url("plain", {"timestamp": "12a", "nonce": "1",
                                                                  "signature": sha1_sign(TOKEN, "12a", "1")}),
                                               data=TEXT_XML), 403),
        "safe-stale": (hook.post_safe(TEXT_XML, timestamp=now - 1000), 403),
        "safe-forged-msg-signature": (safe(good_query | {"msg_signature": "a" * 40}, good_body), 403),
        "safe-missing-msg-signature": (safe({k: v for k, v in good_query.items() if k != "msg_signature"},
                                            good_body), 403),
        "safe-tampered-ciphertext": (safe(good_query, good_body.replace("<![CDATA[", "<![CDATA[AAAA", 2)), 403),
        "safe-wrong-appid": (safe(good_query | {"msg_signature": wrong_app_body["MsgSignature"],
                                                "timestamp": str(now), "nonce": "1"},
                                  f"<xml><Encrypt>{wrong_app_body['Encrypt']}</Encrypt></xml>"), 403),
        "safe-on-plain-account": (hook.client.post(hook.url("plain", good_query), data=good_body), 403),
        "safe-misconfigured-account": (hook.client.post(hook.url("badkey", good_query), data=good_body), 403),
        "safe-no-encrypt": (safe(good_query, "<xml><ToUserName>x</ToUserName></xml>"), 400),
        "safe-inner-doctype": (hook.post_safe(DOCTYPE_ONLY), 400),
        "malformed": (hook.post_plain("<xml><FromUserName>f</xml>"), 400),
        "not-xml": (hook.post_plain("hello"), 400),
        "empty": (hook.post_plain(""), 400),
        "doctype": (hook.post_plain(DOCTYPE_ONLY), 400),
        "xxe": (hook.post_plain(XXE), 400),
        "billion-laughs": (hook.post_plain(LAUGHS), 400),
        "invalid-utf8": (hook.post_plain(TEXT_XML.replace("this is a test", "x").encode() + b"\xff\xfe"), 400),
        "latin1-declared": (hook.post_plain(b'<?xml version="1.0" encoding="latin-1"?>'
                                            + TEXT_XML.replace("this is a test", "\xe9").encode("latin-1")), 400),
        "too-large": (hook.post_plain("<xml>" + "a" * MAX_BODY + "</xml>"), 413),
        "too-large-chunked": (chunked, 413),
        "cut-short": (cut_short, 400),
        "unknown-key": (hook.post_plain(TEXT_XML, key="nope"), 404),
        "other-channel-key": (hook.post_plain(TEXT_XML, key="wecom"), 404),
    }


def test_bad_input_is_rejected_logged_and_never_reaches_the_hub(
    webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="channels.wechat"):
        results = _bad_requests(webhook)
    got = {name: response.status_code for name, (response, _) in results.items()}
    assert got == {name: status for name, (_, status) in results.items()}
    assert webhook.recorder.calls == []
    rejections = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert len(rejections) == len(results)
    assert all("reason=" in r.getMessage() for r in rejections)
    for secret in SECRETS:
        assert secret not in caplog.text


def test_size_limit_is_exact(webhook: Webhook) -> None:
    padding = MAX_BODY - len(TEXT_XML.encode())
    assert webhook.post_plain(TEXT_XML + " " * padding).status_code == 200
    assert webhook.post_plain(TEXT_XML + " " * (padding + 1)).status_code == 413


def test_over_a_real_socket_large_and_chunked_bodies() -> None:
    """Through a real HTTP server: a body near the limit arrives whole; a chunked one over it is 413."""
    rec = Recorder()
    server = make_server("127.0.0.1", 0, make_wsgi(rec), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/webhooks/wechat/plain?" + urlencode(plain_query())
        content = "长" * ((MAX_BODY - len(TEXT_XML.encode()) - 10) // 3)
        big = TEXT_XML.replace("this is a test", content)
        response = requests.post(url, data=big.encode(), timeout=10)
        assert (response.status_code, response.text) == (200, "success")
        assert rec.calls[0].text == content

        def chunks() -> Iterator[bytes]:
            yield b"<xml>"
            for _ in range(MAX_BODY // 100 + 1):
                yield b"x" * 100
            yield b"</xml>"

        assert requests.post(url, data=chunks(), timeout=10).status_code == 413
        assert len(rec.calls) == 1
    finally:
        server.shutdown()
        thread.join(5)
