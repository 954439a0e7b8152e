"""The WeCom callback as a WSGI app: URL verification, every message kind, passive replies, rejected input.

Requests are built from the protocol with wechatpy's WeCom crypto (an implementation independent of the
channel's) and with Tencent's published WXBizMsgCrypt sample (our own copy of its constants)."""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlencode

import pytest
import xmltodict
from wechatpy.enterprise.crypto import PrpCrypto, WeChatCrypto
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client

from channels import base
from channels.base import AccountConfig, OutboundMessage
from channels.wecom import WeComChannel
from hub.sandbox.wecom import MemberSimulator
from tests.channels.conftest import Recorder, sha1_sign

# Tencent's WXBizMsgCrypt sample (加解密方案 / Sample.*): Token, EncodingAESKey, CorpID and its vectors.
TOKEN = "QDG6eK"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CORP_ID = "wx5823bf96d3bd56c7"
VERIFY = {
    "msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "timestamp": "1409659589", "nonce": "263014780",
    "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
}
SAMPLE_POST = {
    "msg_signature": "477715d11cdb4164915debcba66cb864d751f3e6", "timestamp": "1409659813", "nonce": "1372623149",
    "body": "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[RypEvHKD8QQKFhvQ6QleEB4"
            "J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0"
            "qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0"
            "ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJ"
            "WrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lX"
            "dQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==]]></Encrypt></xml>",
}
AGENT_ID = 218
MAX_BODY = 4096

ACCOUNTS = {
    "corp": AccountConfig(key="corp", channel="wecom", token=TOKEN, app_id=CORP_ID, app_secret="s3cret",
                          aes_key=AES_KEY, settings={"agent_id": str(AGENT_ID)}),
    "nokey": AccountConfig(key="nokey", channel="wecom", token=TOKEN, app_id=CORP_ID),
    "wechat": AccountConfig(key="wechat", channel="wechat", token=TOKEN, app_id=CORP_ID, aes_key=AES_KEY),
}


def make_client(recorder: Recorder, **kw: Any) -> Client:
    webhook = WeComChannel.webhook(recorder, ACCOUNTS.get, max_body_bytes=MAX_BODY, **kw)
    return Client(DispatcherMiddleware(NotFound(), {"/webhooks/wecom": webhook}))


class Member:
    """A member writing through WeCom: builds the request with wechatpy's crypto, posts it in-process."""

    def __init__(self, client: Client, corp_id: str = CORP_ID, agent_id: int = AGENT_ID, token: str = TOKEN) -> None:
        self.client = client
        self.sim = MemberSimulator("unused", token, AES_KEY, corp_id, agent_id)

    def post(self, xml: str, key: str = "corp", **kw: Any) -> Any:
        query, body = self.sim.envelope(xml, **kw)
        return self.client.post(f"/webhooks/wecom/{key}?{urlencode(query)}", data=body)

    def xml(self, msg_type: str, fields: dict[str, Any], userid: str = "zhangsan", **kw: Any) -> str:
        return self.sim.message_xml(userid, msg_type, fields, **kw)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def member(recorder: Recorder) -> Member:
    return Member(make_client(recorder))


def decrypt_reply(body: bytes) -> dict[str, Any]:
    envelope = xmltodict.parse(body)["xml"]
    crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
    plain = crypto.decrypt_message(envelope, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"])
    return dict(xmltodict.parse(plain)["xml"])


# -- URL verification --------------------------------------------------------------------------------------


def test_url_verification_with_tencents_sample_answers_the_decrypted_echostr(recorder: Recorder) -> None:
    client = make_client(recorder, clock=lambda: int(VERIFY["timestamp"]) + 5)
    response = client.get("/webhooks/wecom/corp?" + urlencode(VERIFY))
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "1616140317555161061"
    # and wechatpy's WeCom crypto agrees
    assert WeChatCrypto(TOKEN, AES_KEY, CORP_ID).check_signature(
        VERIFY["msg_signature"], VERIFY["timestamp"], VERIFY["nonce"], VERIFY["echostr"]) == "1616140317555161061"


def test_url_verification_takes_an_echostr_whose_plus_signs_were_not_encoded(recorder: Recorder) -> None:
    client = make_client(recorder, clock=lambda: int(VERIFY["timestamp"]))
    raw_query = "&".join(f"{k}={v}" for k, v in VERIFY.items())  # "+" stays "+", which decodes to " "
    response = client.get("/webhooks/wecom/corp?" + raw_query)
    assert (response.status_code, response.get_data(as_text=True)) == (200, "1616140317555161061")


@pytest.mark.parametrize("change, status", [
    ({"msg_signature": "0" * 40}, 403),
    ({"echostr": VERIFY["echostr"][:-4] + "AAA="}, 403),  # signature no longer covers it
    ({"msg_signature": None}, 403),
    ({"echostr": None}, 400),
])
def test_url_verification_rejects_forgeries(recorder: Recorder, change: dict, status: int) -> None:
    client = make_client(recorder, clock=lambda: int(VERIFY["timestamp"]))
    query = {k: v for k, v in (VERIFY | change).items() if v is not None}
    assert client.get("/webhooks/wecom/corp?" + urlencode(query)).status_code == status


def test_url_verification_is_stale_outside_the_replay_window(recorder: Recorder) -> None:
    client = make_client(recorder)  # the real clock: the sample is from 2014
    response = client.get("/webhooks/wecom/corp?" + urlencode(VERIFY))
    assert response.status_code == 403 and "replay window" in response.get_data(as_text=True)


def test_url_verification_of_a_fresh_echostr(member: Member) -> None:
    echostr = PrpCrypto(member.sim.crypto.key).encrypt("4411223344", CORP_ID).decode()
    ts, nonce = str(int(time.time())), "77"
    query = {"msg_signature": sha1_sign(TOKEN, ts, nonce, echostr), "timestamp": ts, "nonce": nonce,
             "echostr": echostr}
    response = member.client.get("/webhooks/wecom/corp?" + urlencode(query))
    assert (response.status_code, response.get_data(as_text=True)) == (200, "4411223344")


# -- messages -----------------------------------------------------------------------------------------------


def test_tencents_sample_message_decrypts_and_parses(recorder: Recorder) -> None:
    client = make_client(recorder, clock=lambda: int(SAMPLE_POST["timestamp"]))
    query = {k: SAMPLE_POST[k] for k in ("msg_signature", "timestamp", "nonce")}
    response = client.post("/webhooks/wecom/corp?" + urlencode(query), data=SAMPLE_POST["body"])
    assert (response.status_code, response.get_data()) == (200, b"")
    (msg,) = recorder.calls
    assert (msg.channel, msg.account, msg.sender, msg.kind, msg.text) == ("wecom", "corp", "mycreate", "text", "hello")
    assert msg.external_id == "4561255354251345929"
    assert msg.extra["agent_id"] == 218 and msg.extra["corp_id"] == CORP_ID


MESSAGES = [
    ("text", {"Content": "你好 WeCom", "MsgId": 1001}, base.TEXT, "你好 WeCom", None),
    ("image", {"PicUrl": "http://x/p.jpg", "MediaId": "m1", "MsgId": 1002}, base.IMAGE, "", None),
    ("voice", {"MediaId": "m2", "Format": "amr", "MsgId": 1003}, base.VOICE, "", None),
    ("video", {"MediaId": "m3", "ThumbMediaId": "t3", "MsgId": 1004}, base.VIDEO, "", None),
    ("location", {"Location_X": 23.13, "Location_Y": 113.35, "Scale": 15, "Label": "广州", "MsgId": 1005},
     base.LOCATION, "", None),
    ("link", {"Title": "一篇文章", "Description": "d", "Url": "http://x/a", "PicUrl": "", "MsgId": 1006},
     base.LINK, "一篇文章", None),
    ("event", {"Event": "enter_agent", "EventKey": ""}, base.EVENT, "", "enter_agent"),
    ("event", {"Event": "click", "EventKey": "MENU_HELP"}, base.EVENT, "MENU_HELP", "click"),
    ("event", {"Event": "view", "EventKey": "http://x/menu"}, base.EVENT, "", "view"),
    ("event", {"Event": "subscribe", "EventKey": ""}, base.EVENT, "", "subscribe"),
    ("event", {"Event": "unsubscribe", "EventKey": ""}, base.EVENT, "", "unsubscribe"),
    ("event", {"Event": "LOCATION", "Latitude": 23.1, "Longitude": 113.3, "Precision": 119.4}, base.EVENT, "",
     "location"),
    ("event", {"Event": "batch_job_result"}, base.EVENT, "", "batch_job_result"),
    ("miniprogram_notice", {"MsgId": 1007}, base.UNKNOWN, "", None),
]


@pytest.mark.parametrize("msg_type, fields, kind, text, event", MESSAGES,
                         ids=[f"{m[0]}-{m[1].get('Event', '')}" for m in MESSAGES])
def test_every_message_kind(member: Member, recorder: Recorder, msg_type: str, fields: dict, kind: str, text: str,
                            event: str | None) -> None:
    response = member.post(member.xml(msg_type, fields, create_time=1700000000))
    assert (response.status_code, response.get_data()) == (200, b"")
    (msg,) = recorder.calls
    assert (msg.channel, msg.sender, msg.kind, msg.text, msg.event) == ("wecom", "zhangsan", kind, text, event)
    assert msg.extra["agent_id"] == AGENT_ID
    if "MsgId" in fields:
        assert msg.external_id == str(fields["MsgId"])
    else:  # events: member:time:event, the same on every retry
        assert msg.external_id == f"zhangsan:1700000000:{event}"
    if event == "view":
        assert msg.extra["url"] == "http://x/menu"
    if kind == base.LOCATION:
        assert (msg.extra["latitude"], msg.extra["longitude"], msg.extra["label"]) == (23.13, 113.35, "广州")
    if kind == base.IMAGE:
        assert msg.media_id == "m1" and msg.extra["pic_url"] == "http://x/p.jpg"


def test_a_retry_carries_the_same_external_id(member: Member, recorder: Recorder) -> None:
    xml = member.xml("event", {"Event": "click", "EventKey": "K"}, create_time=1700000001)
    member.post(xml, nonce="1")
    member.post(xml, nonce="2")  # re-signed like WeCom's retry
    assert [m.external_id for m in recorder.calls] == ["zhangsan:1700000001:click"] * 2


def test_passive_reply_is_encrypted_for_the_member(recorder: Recorder) -> None:
    recorder.reply = lambda m: OutboundMessage(account=m.account, recipient=m.sender, text="您好 ]]> 收到")
    member = Member(make_client(recorder))
    response = member.post(member.xml("text", {"Content": "hi", "MsgId": 5}))
    assert response.status_code == 200 and response.mimetype == "application/xml"
    reply = decrypt_reply(response.get_data())
    assert (reply["ToUserName"], reply["FromUserName"], reply["MsgType"]) == ("zhangsan", CORP_ID, "text")
    assert reply["Content"] == "您好 ]]> 收到"


def test_a_reply_wecom_cannot_take_is_an_empty_answer(recorder: Recorder) -> None:
    recorder.reply = lambda m: OutboundMessage(account=m.account, recipient=m.sender, kind=base.OUT_TRANSFER)
    member = Member(make_client(recorder))
    response = member.post(member.xml("text", {"Content": "hi", "MsgId": 6}))
    assert (response.status_code, response.get_data()) == (200, b"")


# -- bad input ---------------------------------------------------------------------------------------------


def _assert_rejected(response: Any, recorder: Recorder, status: int, caplog: pytest.LogCaptureFixture,
                     reason: str = "") -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert recorder.calls == []
    logged = [r.getMessage() for r in caplog.records if r.name == "channels.wecom"]
    assert logged and "wecom webhook rejected" in logged[-1] and reason in logged[-1]
    assert AES_KEY not in logged[-1] and TOKEN not in logged[-1]


def test_forged_signature(member: Member, recorder: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    query, body = member.sim.envelope(member.xml("text", {"Content": "x", "MsgId": 1}))
    query["msg_signature"] = "f" * 40
    response = member.client.post(f"/webhooks/wecom/corp?{urlencode(query)}", data=body)
    _assert_rejected(response, recorder, 403, caplog, "msg_signature does not match")


def test_signed_with_another_token(recorder: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    forger = Member(make_client(recorder), token="not-the-token")
    response = forger.post(forger.xml("text", {"Content": "x", "MsgId": 1}))
    _assert_rejected(response, recorder, 403, caplog, "msg_signature")


def test_stale_timestamp(member: Member, recorder: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    response = member.post(member.xml("text", {"Content": "x", "MsgId": 1}), timestamp=int(time.time()) - 3600)
    _assert_rejected(response, recorder, 403, caplog, "replay window")


def test_wrong_corp_id(recorder: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    other = Member(make_client(recorder), corp_id="wwother0000000001")  # same Token and key, another receive id
    response = other.post(other.xml("text", {"Content": "x", "MsgId": 1}))
    _assert_rejected(response, recorder, 403, caplog, "CorpID")


def test_wrong_agent_id(recorder: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    other = Member(make_client(recorder), agent_id=1000002)
    response = other.post(other.xml("text", {"Content": "x", "MsgId": 1}))
    _assert_rejected(response, recorder, 403, caplog, "AgentID")


@pytest.mark.parametrize("xml, reason", [
    ("<xml><FromUserName>a</FromUserName>", "malformed XML"),
    ("<!DOCTYPE x [<!ENTITY a 'b'>]><xml><Content>&a;</Content></xml>", "forbidden XML construct"),
    ("<xml><FromUserName>a</FromUserName><CreateTime>1</CreateTime></xml>", "missing <MsgType>"),
    ("<xml><FromUserName>a</FromUserName><CreateTime>x</CreateTime><MsgType>text</MsgType></xml>", "CreateTime"),
    ("<other/>", "root element"),
])
def test_malformed_decrypted_xml(member: Member, recorder: Recorder, caplog: pytest.LogCaptureFixture, xml: str,
                                 reason: str) -> None:
    _assert_rejected(member.post(xml), recorder, 400, caplog, reason)


def test_malformed_envelope(member: Member, recorder: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    query, _ = member.sim.envelope("<xml/>")
    for body, reason in ((b"<xml><Encrypt>", "malformed XML"), (b"<xml><ToUserName>x</ToUserName></xml>", "Encrypt"),
                         (b"\xff\xfe", "UTF-8")):
        caplog.clear()
        response = member.client.post(f"/webhooks/wecom/corp?{urlencode(query)}", data=body)
        _assert_rejected(response, recorder, 400, caplog, reason)


def test_oversized_body(member: Member, recorder: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    response = member.post(member.xml("text", {"Content": "长" * MAX_BODY, "MsgId": 1}))
    _assert_rejected(response, recorder, 413, caplog, "exceeds the limit")


@pytest.mark.parametrize("key", ["nope", "wechat"])
def test_unknown_account_key(member: Member, recorder: Recorder, caplog: pytest.LogCaptureFixture, key: str) -> None:
    response = member.post(member.xml("text", {"Content": "x", "MsgId": 1}), key=key)
    _assert_rejected(response, recorder, 404, caplog, "unknown account key")


def test_account_without_aes_key(member: Member, recorder: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        response = member.post(member.xml("text", {"Content": "x", "MsgId": 1}), key="nokey")
    _assert_rejected(response, recorder, 403, caplog, "misconfigured")


def test_unsigned_plaintext_and_other_methods(member: Member, recorder: Recorder) -> None:
    xml = member.xml("text", {"Content": "x", "MsgId": 1})
    assert member.client.post("/webhooks/wecom/corp", data=xml).status_code == 403
    assert member.client.put("/webhooks/wecom/corp", data=xml).status_code == 405
    assert member.client.post("/webhooks/wecom/", data=xml).status_code == 404
    assert member.client.post("/webhooks/wecom/corp/x", data=xml).status_code == 404
    assert recorder.calls == []
