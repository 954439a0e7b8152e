"""Every WeChat message and event type, posted through the webhook, becomes the right InboundMessage."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from channels import base
from tests.channels.conftest import Webhook, fixture_xml

# file -> expected attributes of the InboundMessage (extra checked as a subset)
CASES: dict[str, dict[str, Any]] = {
    "parse_text_message.xml": dict(
        kind=base.TEXT, text="this is a test", sender="fromUser", external_id="1234567890123456",
        sent_at=datetime(2012, 9, 28, 11, 31, tzinfo=UTC),
    ),
    "parse_image_message.xml": dict(
        kind=base.IMAGE, text="", media_id="media_id", external_id="1234567890123456",
        extra={"pic_url": "this is a url"},
    ),
    "parse_voice_message.xml": dict(kind=base.VOICE, text="", media_id="media_id", extra={"format": "Format"}),
    "voice_with_recognition.xml": dict(
        kind=base.VOICE, text="腾讯微信团队", media_id="media_id", extra={"recognition": "腾讯微信团队"}
    ),
    "parse_video_message.xml": dict(
        kind=base.VIDEO, media_id="media_id", extra={"thumb_media_id": "thumb_media_id"}
    ),
    "shortvideo.xml": dict(kind=base.SHORTVIDEO, media_id="media_id", extra={"thumb_media_id": "thumb_media_id"}),
    "parse_location_message.xml": dict(
        kind=base.LOCATION,
        extra={"latitude": 23.134521, "longitude": 113.358803, "scale": 20, "label": "位置信息"},
    ),
    "parse_link_message.xml": dict(
        kind=base.LINK, text="公众平台官网链接",
        extra={"title": "公众平台官网链接", "description": "公众平台官网链接", "url": "url"},
    ),
    "parse_subscribe_event.xml": dict(
        kind=base.EVENT, event="subscribe", sender="FromUser", external_id="FromUser:123456789:subscribe",
        sent_at=datetime(1973, 11, 29, 21, 33, 9, tzinfo=UTC),
    ),
    "parse_subscribe_scan_event.xml": dict(
        kind=base.EVENT, event="subscribe", event_key="qrscene_123123",
        extra={"scene": "123123", "ticket": "TICKET"},
    ),
    "unsubscribe_event.xml": dict(kind=base.EVENT, event="unsubscribe", external_id="FromUser:123456789:unsubscribe"),
    "parse_scan_event.xml": dict(
        kind=base.EVENT, event="scan", event_key="123123", extra={"scene": "123123", "ticket": "TICKET"},
        external_id="FromUser:123456789:scan",
    ),
    "parse_click_event.xml": dict(kind=base.EVENT, event="click", event_key="EVENTKEY", text="EVENTKEY"),
    "parse_view_event.xml": dict(kind=base.EVENT, event="view", extra={"url": "www.qq.com"}),
    "parse_location_event.xml": dict(
        kind=base.EVENT, event="location",
        extra={"latitude": 23.137466, "longitude": 113.352425, "precision": 119.38504},
        external_id="fromUser:123456789:location",
    ),
    "template_send_job_finish_event.xml": dict(
        kind=base.EVENT, event="templatesendjobfinish", external_id="200163836", extra={"status": "success"},
    ),
    "mass_send_job_finish_event.xml": dict(
        kind=base.EVENT, event="masssendjobfinish", external_id="1000001625",
        extra={"status": "err(30003)", "total_count": 0, "sent_count": 0},
    ),
    "kf_create_session_event.xml": dict(
        kind=base.EVENT, event="kf_create_session", extra={"kf_account": "test1@test"},
        external_id="fromuser:1399197672:kf_create_session",
    ),
    "kf_close_session_event.xml": dict(kind=base.EVENT, event="kf_close_session", extra={"kf_account": "test1@test"}),
    "kf_switch_session_event.xml": dict(
        kind=base.EVENT, event="kf_switch_session",
        extra={"from_kf_account": "test1@test", "to_kf_account": "test2@test"},
    ),
    "parse_unknown_message.xml": dict(
        kind=base.UNKNOWN, event=None, external_id="1234567890123456", extra={"msg_type": "notsure"},
    ),
    "wifi_connected_event.xml": dict(
        kind=base.EVENT, event="wificonnected", external_id="FromUser:123456789:wificonnected",
    ),
    "scan_code_push_event.xml": dict(kind=base.EVENT, event="scancode_push", event_key="6"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_type_becomes_an_inbound_message(webhook: Webhook, name: str) -> None:
    xml = fixture_xml(name)
    response = webhook.post_plain(xml)
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "success"
    (msg,) = webhook.recorder.calls
    assert isinstance(msg, base.InboundMessage)
    assert msg.channel == "wechat" and msg.account == "plain"
    assert msg.raw == xml
    assert msg.sent_at.tzinfo is not None and msg.sent_at.utcoffset().total_seconds() == 0
    expected = dict(CASES[name])
    extra = expected.pop("extra", {})
    for attr, value in expected.items():
        assert getattr(msg, attr) == value, attr
    for key, value in extra.items():
        assert msg.extra[key] == value, key
    # No XML or wechatpy object leaves the package: extra holds plain values only.
    assert all(isinstance(v, str | int | float | dict) for v in msg.extra.values())


def test_unknown_types_keep_their_fields(webhook: Webhook) -> None:
    webhook.post_plain(fixture_xml("wifi_connected_event.xml"))
    webhook.post_plain(fixture_xml("scan_code_push_event.xml"))
    wifi, scan = webhook.recorder.calls
    assert wifi.extra["fields"]["VendorId"] == "3001224419"
    assert scan.extra["fields"]["ScanCodeInfo/ScanResult"] == "1"


def test_content_is_kept_verbatim_and_ids_are_stripped(webhook: Webhook) -> None:
    xml = (
        "<xml><ToUserName> gh_1 </ToUserName><FromUserName>\n  fan\n</FromUserName>"
        "<CreateTime>1700000000</CreateTime><MsgType>text</MsgType>"
        "<Content><![CDATA[  a ]]]]><![CDATA[> b  ]]></Content><MsgId>42</MsgId></xml>"
    )
    assert webhook.post_plain(xml).status_code == 200
    (msg,) = webhook.recorder.calls
    assert (msg.sender, msg.text, msg.external_id) == ("fan", "  a ]]> b  ", "42")
    assert msg.sent_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    "xml, reason",
    [
        ("<xml><MsgType>text</MsgType><CreateTime>1</CreateTime></xml>", "missing <FromUserName>"),
        ("<xml><FromUserName>f</FromUserName><CreateTime>1</CreateTime></xml>", "missing <MsgType>"),
        ("<xml><FromUserName>f</FromUserName><MsgType>text</MsgType></xml>", "missing <CreateTime>"),
        ("<xml><FromUserName>f</FromUserName><MsgType>text</MsgType><CreateTime>x</CreateTime></xml>",
         "CreateTime"),
        ("<xml><FromUserName>f</FromUserName><MsgType>event</MsgType><CreateTime>1</CreateTime></xml>",
         "event without <Event>"),
        ("<notxml><FromUserName>f</FromUserName></notxml>", "root element"),
    ],
)
def test_structurally_invalid_messages_are_400(webhook: Webhook, xml: str, reason: str) -> None:
    response = webhook.post_plain(xml)
    assert response.status_code == 400
    assert reason in response.get_data(as_text=True)
    assert webhook.recorder.calls == []
