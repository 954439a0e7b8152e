from __future__ import annotations

from collections.abc import Callable

import pytest
from wechatpy.crypto import WeChatCrypto
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from hub.sandbox.wechat import FanSimulator
from hub.sandbox.wechat.wire import read_reply

from .conftest import AES_KEY, TOKEN, Receiver

Start = Callable[..., Receiver]


@pytest.mark.parametrize(("aes_key", "mode"), [(None, "plain"), (AES_KEY, "compatible"), (AES_KEY, "safe")])
def test_text_round_trip_in_every_mode(receiver_factory: Start, aes_key: str | None, mode: str) -> None:
    receiver = receiver_factory(aes_key=aes_key)
    sim = FanSimulator(receiver.url, TOKEN, "wx_hub", aes_key, mode=mode)  # type: ignore[arg-type]
    result = sim.text("o_fan", "退货怎么办 <&> ]]> end", msg_id=1234567890123456)
    assert result.ok, result.error
    assert result.status == 200
    assert result.msg_type == "text"
    assert result.reply_text == "echo: 退货怎么办 <&> ]]> end"
    [msg] = receiver.received
    assert (msg.type, msg.source, msg.id) == ("text", "o_fan", 1234567890123456)
    assert msg.target == sim.original_id
    body = receiver.raw_bodies[0]
    query = receiver.queries[0]
    assert query["openid"] == "o_fan"
    if mode == "safe":
        assert b"<Content>" not in body and b"<Encrypt>" in body
        assert query["encrypt_type"] == "aes"
    elif mode == "compatible":
        assert b"<Content>" in body and b"<Encrypt>" in body
    else:
        assert "encrypt_type" not in query and b"<Encrypt>" not in body


def test_events_carry_their_keys(receiver_factory: Start) -> None:
    receiver = receiver_factory(aes_key=AES_KEY)
    receiver.respond = lambda msg: "success"
    sim = FanSimulator(receiver.url, TOKEN, "wx_hub", AES_KEY)
    assert sim.subscribe("o1", scene="spring_sale").ok
    assert sim.click("o1", "MENU_HELP").ok
    assert sim.unsubscribe("o1").ok
    sub, click, unsub = receiver.received
    assert (sub.event, sub.scene_id, bool(sub.ticket)) == ("subscribe_scan", "spring_sale", True)
    assert (click.event, click.key) == ("click", "MENU_HELP")
    assert unsub.event == "unsubscribe"
    assert sim.subscribe("o1").reply is None


def test_voice_location_and_link_messages(receiver_factory: Start) -> None:
    receiver = receiver_factory()
    receiver.respond = lambda msg: ""
    sim = FanSimulator(receiver.url, TOKEN, "wx_hub")
    assert sim.voice("o1", recognition="你好").ok
    assert sim.location("o1", 23.13, 113.26, label="广州").ok
    assert sim.link("o1", "title", "https://example.com/a").ok
    voice, location, link = receiver.received
    assert (voice.type, voice.recognition) == ("voice", "你好")
    assert location.type == "location" and location.label == "广州"
    assert tuple(map(float, location.location)) == (23.13, 113.26)
    assert (link.type, link.url) == ("link", "https://example.com/a")


def test_transfer_customer_service_reply(receiver_factory: Start) -> None:
    receiver = receiver_factory(aes_key=AES_KEY)
    # wechatpy's TransferCustomerServiceReply has no KfAccount: render the documented XML.
    receiver.respond = lambda msg: (
        f"<xml><ToUserName><![CDATA[{msg.source}]]></ToUserName><FromUserName><![CDATA[{msg.target}]]>"
        "</FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[transfer_customer_service]]></MsgType>"
        "<TransInfo><KfAccount><![CDATA[kf1@wx_hub]]></KfAccount></TransInfo></xml>"
    )
    result = FanSimulator(receiver.url, TOKEN, "wx_hub", AES_KEY).text("o1", "人工")
    assert result.ok
    assert result.msg_type == "transfer_customer_service"
    assert result.reply_text is None
    assert result.reply is not None and result.reply["TransInfo"]["KfAccount"] == "kf1@wx_hub"


def test_reply_signed_with_the_wrong_token_is_rejected(receiver_factory: Start) -> None:
    receiver = receiver_factory(aes_key=AES_KEY)
    receiver.reply_crypto = WeChatCrypto("another-token", AES_KEY, "wx_hub")
    result = FanSimulator(receiver.url, TOKEN, "wx_hub", AES_KEY).text("o1", "hi")
    assert not result.ok
    assert result.error == "reply MsgSignature does not match"
    assert result.reply_text is None


def test_reply_encrypted_for_another_appid_is_rejected(receiver_factory: Start) -> None:
    receiver = receiver_factory(aes_key=AES_KEY)
    receiver.reply_crypto = WeChatCrypto(TOKEN, AES_KEY, "wx_other")
    result = FanSimulator(receiver.url, TOKEN, "wx_hub", AES_KEY).text("o1", "hi")
    assert result.error == "reply was encrypted for another AppID"


def test_plaintext_reply_in_safe_mode_and_reply_to_the_wrong_fan(receiver_factory: Start) -> None:
    receiver = receiver_factory()
    receiver.respond = lambda msg: TextReply(content="hi", source=msg.target, target="o_other").render()
    result = FanSimulator(receiver.url, TOKEN, "wx_hub").text("o1", "hi")
    assert result.error is not None and "is not the fan 'o1'" in result.error


def test_plaintext_reply_is_refused_in_safe_mode() -> None:
    reply = TextReply(content="plain", source="gh_x", target="o1").render().encode()
    check = read_reply(reply, token=TOKEN, app_id="wx_hub", openid="o1", from_user="gh_x", aes_key=AES_KEY, mode="safe")
    assert check.error == "plaintext reply but the account is in safe mode"
    assert check.fields is not None and check.fields["Content"] == "plain"
    compatible = read_reply(
        reply, token=TOKEN, app_id="wx_hub", openid="o1", from_user="gh_x", aes_key=AES_KEY, mode="compatible"
    )
    assert compatible.error is None
    for empty in (b"", b"success", b"  success \n"):
        check = read_reply(empty, token=TOKEN, app_id="wx_hub", openid="o1", from_user="gh_x")
        assert (check.fields, check.error) == (None, None)


def test_server_errors_and_unreachable_hub(receiver_factory: Start) -> None:
    receiver = receiver_factory()
    receiver.token = "the hub expects another token"  # signature check fails -> 500 in the receiver
    result = FanSimulator(receiver.url, TOKEN, "wx_hub").text("o1", "hi")
    assert (result.status, result.ok, result.error) == (500, False, "HTTP 500")

    gone = FanSimulator("http://127.0.0.1:9/webhook", TOKEN, "wx_hub", timeout=1).text("o1", "hi")
    assert gone.status is None
    assert gone.error is not None and gone.error.startswith("cannot reach")


def test_wechat_style_retry_after_a_timeout_resends_the_same_message(receiver_factory: Start) -> None:
    receiver = receiver_factory()
    receiver.delays = [1.5]
    sim = FanSimulator(receiver.url, TOKEN, "wx_hub", timeout=1.0, attempts=3)
    result = sim.text("o1", "slow hub")
    assert result.ok
    assert result.attempts == 2
    first, second = receiver.received
    assert first.id == second.id == result.msg_id
    assert receiver.queries[0]["nonce"] != receiver.queries[1]["nonce"]


def test_reply_with_unescaped_cdata_end_is_invalid_xml(receiver_factory: Start) -> None:
    receiver = receiver_factory()
    receiver.respond = lambda msg: TextReply(content=msg.content, message=msg).render()  # no "]]>" splitting
    sim = FanSimulator(receiver.url, TOKEN, "wx_hub")
    assert sim.text("o1", "fine").reply_text == "fine"
    broken = sim.text("o1", "a ]]> b")
    assert broken.error is not None and broken.error.startswith("reply is not valid XML")
    assert not broken.ok


def test_build_signed_request_without_sending() -> None:
    sim = FanSimulator("http://unused", TOKEN, "wx_hub", AES_KEY)
    params, body = sim.build_signed_request("o1", "load test", msg_id=42)
    check_signature(TOKEN, params["signature"], params["timestamp"], params["nonce"])
    crypto = WeChatCrypto(TOKEN, AES_KEY, "wx_hub")
    xml = crypto.decrypt_message(body, params["msg_signature"], params["timestamp"], params["nonce"])
    assert "<Content><![CDATA[load test]]></Content>" in xml
    assert "<MsgId>42</MsgId>" in xml
    _, other = sim.build_signed_request("o1", "load test")
    assert other != body


def test_safe_mode_needs_a_key() -> None:
    with pytest.raises(ValueError, match="aes_key"):
        FanSimulator("http://unused", TOKEN, "wx_hub", mode="safe")
