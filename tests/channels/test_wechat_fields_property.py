"""Property (issue 17): every field of the WeChat XML that channels/wechat reads, given a bad value (out of
range, negative, huge, non-numeric, empty, any Unicode), in a correctly signed request — plaintext or
encrypted — gets a 4xx with a reason and a log line, or a 200 with a sane message; never a 5xx. Valid
values always get a 200.

The channel alone (with a recording hub) runs many examples; tests/intake/test_wechat_fields_hub.py sends the
same requests through the hub's webhook and database (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
import json
import logging
import math
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape

import pytest
import xmltodict
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from wechatpy.crypto import WeChatCrypto

from channels.base import InboundMessage
from tests.channels.conftest import AES_KEY, APP_ID, TOKEN, Recorder, make_client, sha1_sign

# One message of every shape the channel maps: field -> value. The channel reads each of these fields.
MESSAGES: dict[str, dict[str, str]] = {
    "text": {"MsgType": "text", "Content": "你好", "MsgId": "1234567890123456"},
    "image": {"MsgType": "image", "PicUrl": "http://x/p.jpg", "MediaId": "m1", "MsgId": "2"},
    "voice": {"MsgType": "voice", "MediaId": "m2", "Format": "amr", "Recognition": "你好", "MsgId": "3"},
    "video": {"MsgType": "video", "MediaId": "m3", "ThumbMediaId": "t3", "MsgId": "4"},
    "location": {"MsgType": "location", "Location_X": "23.134521", "Location_Y": "113.358803", "Scale": "20",
                 "Label": "位置信息", "MsgId": "5"},
    "link": {"MsgType": "link", "Title": "t", "Description": "d", "Url": "http://x", "MsgId": "6"},
    "subscribe": {"MsgType": "event", "Event": "subscribe", "EventKey": "qrscene_spring", "Ticket": "tk"},
    "scan": {"MsgType": "event", "Event": "SCAN", "EventKey": "123", "Ticket": "tk"},
    "click": {"MsgType": "event", "Event": "CLICK", "EventKey": "MENU_HOTLINE"},
    "view": {"MsgType": "event", "Event": "VIEW", "EventKey": "http://x", "MenuId": "7"},
    "location_event": {"MsgType": "event", "Event": "LOCATION", "Latitude": "23.137466",
                       "Longitude": "113.352425", "Precision": "119.385040"},
    "mass_send": {"MsgType": "event", "Event": "MASSSENDJOBFINISH", "MsgID": "1000001625",
                  "Status": "send success", "TotalCount": "10", "FilterCount": "9", "SentCount": "8",
                  "ErrorCount": "1"},
    "kf_switch": {"MsgType": "event", "Event": "kf_switch_session", "FromKfAccount": "a@x", "ToKfAccount": "b@x"},
    "unknown_event": {"MsgType": "event", "Event": "some_new_event", "Anything": "x"},
    "unknown": {"MsgType": "miniprogrampage", "Title": "t", "MsgId": "8"},
}
COMMON = {"ToUserName": "gh_test", "FromUserName": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "CreateTime": ""}
NUMERIC = {"CreateTime", "MsgId", "MsgID", "Location_X", "Location_Y", "Scale", "Latitude", "Longitude",
           "Precision", "TotalCount", "FilterCount", "SentCount", "ErrorCount"}

# Values that are wrong for a number (and odd for any field).
BAD_NUMBERS = ["", " ", "-1", "-0", "+1", "1e309", "-1e309", "nan", "NaN", "inf", "-Infinity", "0x10", "1_000",
               "１２３", "١٢٣", "²", "1.5.2", "1e", ".", "--1", "12 34", "253402300800", "99999999999999999999",
               "18446744073709551616", "9" * 5000, "-" + "9" * 400, "0." + "0" * 400 + "1", "1" + "0" * 400,
               "abc", "您好", "🙂", "]]>", "&", "<x/>", "\t42\n"]
bad_values = st.one_of(
    st.sampled_from(BAD_NUMBERS),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=20),
    st.text(min_size=100, max_size=400),
)


def _valid(field: str) -> st.SearchStrategy[str]:
    """Values WeChat may send for a field (numbers in range, empty where WeChat leaves a field empty)."""
    now = int(time.time())
    numbers: dict[str, st.SearchStrategy[Any]] = {
        "CreateTime": st.integers(0, 253402300799) | st.just(now),
        "MsgId": st.integers(0, 2**64 - 1), "MsgID": st.integers(0, 2**64 - 1),
        "Location_X": st.floats(-90, 90), "Latitude": st.floats(-90, 90),
        "Location_Y": st.floats(-180, 180), "Longitude": st.floats(-180, 180),
        "Precision": st.floats(0, 1e6), "Scale": st.integers(0, 30),
        "TotalCount": st.integers(0, 10**9), "FilterCount": st.integers(0, 10**9),
        "SentCount": st.integers(0, 10**9), "ErrorCount": st.integers(0, 10**9),
    }
    if field in numbers:
        fmt = (lambda v: f"{v:.6f}") if field in ("Location_X", "Location_Y", "Latitude", "Longitude",
                                                   "Precision") else str
        return numbers[field].map(fmt)
    if field in ("FromUserName", "MsgType"):
        return st.just(COMMON.get(field) or "text")
    return st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40)


NONCES = itertools.count(int(time.time() * 1000) % 10**9)
RECORDER = Recorder()
CLIENT = make_client(RECORDER)
CRYPTO = WeChatCrypto(TOKEN, AES_KEY, APP_ID)


def to_xml(fields: dict[str, str]) -> str:
    """WeChat's layout; values as text nodes (escaped), so that any string arrives as sent."""
    return "<xml>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items()) + "</xml>"


def signed_request(xml: str, mode: str) -> tuple[str, bytes]:
    """Query string and body of an authentic request (a fresh nonce each time: no replay)."""
    ts, nonce = str(int(time.time())), str(next(NONCES))
    query = {"timestamp": ts, "nonce": nonce, "signature": sha1_sign(TOKEN, ts, nonce), "openid": "o6_bmjr"}
    if mode == "plain":
        return urlencode(query), xml.encode()
    encrypted = CRYPTO.encrypt_message(xml, nonce, ts)
    envelope = xmltodict.parse(encrypted)["xml"]
    query |= {"encrypt_type": "aes", "msg_signature": envelope["MsgSignature"]}
    body = f"<xml><ToUserName>gh_test</ToUserName><Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>"
    return urlencode(query), body.encode()


def message(shape: str, **changes: str) -> dict[str, str]:
    fields = {**COMMON, "CreateTime": str(int(time.time())), **MESSAGES[shape]}
    fields.update(changes)
    return fields


def fields_of(shape: str) -> list[str]:
    return [*COMMON, *MESSAGES[shape]]


cases = st.sampled_from(sorted(MESSAGES)).flatmap(
    lambda shape: st.tuples(st.just(shape), st.sampled_from(fields_of(shape))))


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def rejections() -> Iterator[Captured]:
    handler = Captured()
    logger = logging.getLogger("channels.wechat")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def assert_sane(inbound: InboundMessage) -> None:
    """What the hub will store: a real time, ids within their columns, JSON without NaN/inf."""
    assert isinstance(inbound.sent_at, datetime)
    assert 0 < len(inbound.sender) <= 128 and 0 < len(inbound.external_id) <= 200
    assert inbound.event is None or len(inbound.event) <= 64
    assert inbound.event_key is None or len(inbound.event_key) <= 256
    json.dumps(inbound.extra, allow_nan=False)
    for key in ("latitude", "longitude", "precision", "scale"):
        if key in inbound.extra:
            assert math.isfinite(inbound.extra[key])


def post(fields: dict[str, str], mode: str, rejections: Captured) -> tuple[int, str, InboundMessage | None]:
    before, logged = len(RECORDER.calls), len(rejections.records)
    query, body = signed_request(to_xml(fields), mode)
    key = "plain" if mode == "plain" else "safe"
    response = CLIENT.post(f"/webhooks/wechat/{key}?{query}", data=body)
    text = response.get_data(as_text=True)
    assert response.status_code < 500, text
    got = RECORDER.calls[before] if len(RECORDER.calls) > before else None
    if response.status_code >= 400:
        assert text.strip(), "a 4xx says why"
        assert got is None, "a refused message never reaches the hub"
        assert any(text in r.getMessage() for r in rejections.records[logged:]), "and is logged"
    else:
        assert response.status_code == 200 and got is not None
        assert_sane(got)
    return response.status_code, text, got


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases, value=bad_values, mode=st.sampled_from(["plain", "safe"]))
def test_bad_values_in_any_field_never_get_a_5xx(case: tuple[str, str], value: str, mode: str,
                                                 rejections: Captured) -> None:
    shape, field = case
    status, reason, _ = post(message(shape, **{field: value}), mode, rejections)
    event(f"{field}: {status}")
    if status >= 400 and field in NUMERIC:
        # named, or refused before the fields are read: a value that is not XML text (a control character),
        # or one that makes the body larger than the webhook takes (413)
        assert field in reason or "missing" in reason or "XML" in reason or status == 413


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), shape=st.sampled_from(sorted(MESSAGES)), mode=st.sampled_from(["plain", "safe"]))
def test_valid_values_are_accepted(data: st.DataObject, shape: str, mode: str, rejections: Captured) -> None:
    changes = {field: data.draw(_valid(field), label=field) for field in fields_of(shape)
               if field not in ("FromUserName", "MsgType", "Event")}
    status, reason, got = post(message(shape, **changes), mode, rejections)
    assert status == 200, reason
    assert got is not None and int(got.sent_at.timestamp()) == int(changes["CreateTime"])


@pytest.mark.parametrize("create_time", ["253402300800", "253402300799999", str(2**40 - 1), str(2**63), "-1",
                                         "1e10", "nan", ""])
def test_create_time_out_of_range_is_a_400_with_a_reason(create_time: str, rejections: Captured) -> None:
    # CreateTime 253402300800 is 10000-01-01: it used to raise in datetime.fromtimestamp (a 500).
    for mode in ("plain", "safe"):
        status, reason, _ = post(message("text", CreateTime=create_time), mode, rejections)
        assert status == 400 and "CreateTime" in reason


@pytest.mark.parametrize(("shape", "field", "value"), [
    ("location", "Location_X", "nan"), ("location", "Location_Y", "inf"), ("location", "Location_X", "91"),
    ("location", "Scale", "-1"), ("location", "Scale", "9" * 30), ("location_event", "Latitude", "1e309"),
    ("location_event", "Precision", "-5"), ("location_event", "Longitude", "东经"),
    ("mass_send", "TotalCount", "-1"), ("mass_send", "MsgID", "abc"), ("text", "MsgId", "-1"),
    ("text", "MsgId", "18446744073709551616"), ("text", "FromUserName", "o" * 129),
    ("click", "Event", "CLICK" * 13), ("click", "EventKey", "k" * 257), ("text", "MsgType", "t" * 33),
])
def test_each_bad_number_or_oversized_id_names_its_field(shape: str, field: str, value: str,
                                                         rejections: Captured) -> None:
    status, reason, _ = post(message(shape, **{field: value}), "plain", rejections)
    assert status == 400 and field in reason


@pytest.mark.parametrize(("shape", "field"), [("location", "Scale"), ("location_event", "Precision"),
                                              ("mass_send", "ErrorCount"), ("text", "MsgId")])
def test_fields_wechat_may_leave_empty_are_parsed_as_absent(shape: str, field: str, rejections: Captured) -> None:
    status, _reason, got = post(message(shape, **{field: ""}), "plain", rejections)
    assert status == 200 and got is not None
    assert got.external_id  # without a MsgId, the sender:time:type id
