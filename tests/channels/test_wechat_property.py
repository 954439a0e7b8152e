"""Property: whatever arrives at the webhook (bodies, queries, headers; signed or not, encrypted or not),
the answer is never a 5xx, and the hub only sees requests that were answered 200."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from wechatpy.crypto import PrpCrypto, WeChatCrypto

from tests.channels.conftest import AES_KEY, APP_ID, TOKEN, Recorder, fixture_xml, make_client, sha1_sign

RECORDER = Recorder()
CLIENT = make_client(RECORDER)
CRYPTO = WeChatCrypto(TOKEN, AES_KEY, APP_ID)

TAGS = ["xml", "ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "Event", "EventKey",
        "Encrypt", "Recognition", "Location_X", "Latitude", "MsgID"]
VALUES = ["text", "event", "subscribe", "CLICK", "qrscene_1", "1348831860", "-1", "99999999999999999999", "",
          "é", "]]>", "&amp;", "&lol;", "\x00", "<!DOCTYPE x>", "nan", "1e309"]

fragments = st.one_of(
    st.sampled_from(TAGS).map(lambda t: f"<{t}>"),
    st.sampled_from(TAGS).map(lambda t: f"</{t}>"),
    st.sampled_from(VALUES),
    st.sampled_from(VALUES).map(lambda v: f"<![CDATA[{v}]]>"),
    st.text(max_size=8),
)
xmlish = st.lists(fragments, max_size=30).map("".join)
structured = st.fixed_dictionaries(
    {t: st.sampled_from(VALUES) | st.text(max_size=10) for t in ("FromUserName", "CreateTime", "MsgType")},
    optional={t: st.sampled_from(VALUES) | st.text(max_size=10) for t in ("Content", "Event", "EventKey", "MsgId")},
).map(lambda d: "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in d.items()) + "</xml>")
bodies = st.one_of(
    st.binary(max_size=600),
    xmlish.map(str.encode),
    structured.map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.just(fixture_xml("parse_text_message.xml").encode()),
    st.binary(min_size=1, max_size=64).map(lambda b: fixture_xml("parse_link_message.xml").encode()[:200] + b),
)
params = st.dictionaries(
    st.sampled_from(["timestamp", "nonce", "signature", "msg_signature", "encrypt_type", "echostr", "openid"]),
    st.text(max_size=50) | st.sampled_from(["aes", "raw", str(int(time.time())), "0", "AAAA"]),
    max_size=7,
)
headers = st.dictionaries(
    st.sampled_from(["Content-Type", "Content-Length", "Transfer-Encoding", "Content-Encoding", "X-Forwarded-For"]),
    st.sampled_from(["text/xml", "application/json; charset=gbk", "-1", "0", "5", "99999999999", "chunked",
                     "gzip", "\u00e9"]),
    max_size=3,
)


def _signed(query: dict[str, str], body: bytes, mode: str) -> tuple[dict[str, str], bytes]:
    """Make the request authentic in `mode` so that random bodies get past the signature checks."""
    ts, nonce = str(int(time.time())), query.get("nonce", "1")
    query = query | {"timestamp": ts, "nonce": nonce, "signature": sha1_sign(TOKEN, ts, nonce)}
    if mode == "safe":
        text = body.decode("utf-8", "replace")
        encrypted = PrpCrypto(CRYPTO.key).encrypt(text, APP_ID).decode()
        query |= {"encrypt_type": "aes", "msg_signature": sha1_sign(TOKEN, ts, nonce, encrypted)}
        body = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()
    return query, body


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["GET", "POST", "POST", "POST", "PUT"]),
    key=st.sampled_from(["plain", "safe", "badkey", "wecom", "nope", "", "%00", "..%2f"]),
    query=params,
    body=bodies,
    extra_headers=headers,
    mode=st.sampled_from(["unsigned", "plain", "plain", "safe", "safe"]),
)
def test_random_requests_never_get_a_5xx(
    method: str, key: str, query: dict[str, str], body: bytes, extra_headers: dict[str, str], mode: str
) -> None:
    if mode != "unsigned":
        # authentic requests to the matching account, so random bodies reach decryption and parsing
        query, body = _signed(query, body, mode)
        key, method = mode, "POST"
    before = len(RECORDER.calls)
    kw: dict[str, Any] = {"data": body, "headers": extra_headers}
    response = CLIENT.open(f"/webhooks/wechat/{key}?{urlencode(query)}", method=method, **kw)
    assert response.status_code < 500, response.get_data(as_text=True)
    event(f"{mode} {method} -> {response.status_code}")
    reached_hub = len(RECORDER.calls) > before
    if method == "POST" and reached_hub:
        assert response.status_code == 200
    if response.status_code != 200:
        assert not reached_hub


# -- the same random requests at the WeCom callback (always encrypted: authentic ones are encrypted and signed) --

from tests.channels import test_wecom_webhook as wecom  # noqa: E402

WECOM_RECORDER = Recorder()
WECOM_CLIENT = wecom.make_client(WECOM_RECORDER)


def _wecom_signed(query: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    ts, nonce = str(int(time.time())), query.get("nonce", "1")[:100]
    crypto = WeChatCrypto(wecom.TOKEN, wecom.AES_KEY, wecom.CORP_ID)
    encrypted = PrpCrypto(crypto.key).encrypt(body.decode("utf-8", "replace"), wecom.CORP_ID).decode()
    signed = {"timestamp": ts, "nonce": nonce, "msg_signature": sha1_sign(wecom.TOKEN, ts, nonce, encrypted)}
    return query | signed, f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["GET", "POST", "POST", "PUT"]),
    key=st.sampled_from(["corp", "nokey", "wechat", "nope", "", "%00", "..%2f"]),
    query=params,
    body=bodies,
    extra_headers=headers,
    signed=st.booleans(),
)
def test_random_requests_at_the_wecom_callback_never_get_a_5xx(
    method: str, key: str, query: dict[str, str], body: bytes, extra_headers: dict[str, str], signed: bool
) -> None:
    if signed:  # authentic requests, so random bodies reach decryption and parsing
        query, body = _wecom_signed(query, body)
        key, method = "corp", "POST"
    before = len(WECOM_RECORDER.calls)
    response = WECOM_CLIENT.open(f"/webhooks/wecom/{key}?{urlencode(query)}", method=method, data=body,
                                 headers=extra_headers)
    assert response.status_code < 500, response.get_data(as_text=True)
    event(f"wecom {'signed' if signed else 'unsigned'} {method} -> {response.status_code}")
    reached_hub = len(WECOM_RECORDER.calls) > before
    if method == "POST" and reached_hub:
        assert response.status_code == 200
    if response.status_code != 200:
        assert not reached_hub


# -- the same property for the community (Discourse) webhook --------------------------------------------------------

import json  # noqa: E402

from tests.channels import test_community_webhook as community  # noqa: E402

FORUM_RECORDER = Recorder()
FORUM_CLIENT = community.make_client(FORUM_RECORDER)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12)
    | st.sampled_from(["2023-02-09T10:19:46.324Z", "not a time", "[quote]x[/quote]", "<p>x</p>"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
POST_FIELDS = ["id", "user_id", "username", "raw", "cooked", "topic_id", "post_number", "version", "post_type",
               "category_id", "created_at", "updated_at", "deleted_at", "topic_title", "reply_to_post_number"]
# A real post with some fields replaced or dropped, so that random values get past the signature and the JSON.
mangled_posts = st.dictionaries(st.sampled_from(POST_FIELDS), json_values | st.just(None), max_size=5).map(
    lambda changes: {"post": {**community.post_payload(category_id=5)["post"], **changes}})
forum_bodies = st.one_of(
    st.binary(max_size=600),
    json_values.map(lambda v: json.dumps(v).encode()),
    mangled_posts.map(lambda p: json.dumps(p).encode()),
    st.builds(lambda p, cut: json.dumps(p).encode()[:cut], mangled_posts, st.integers(0, 400)),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT"]),
    key=st.sampled_from(["forum", "forum", "open", "nosecret", "wechat", "nope", "", "forum/x"]),
    name=st.sampled_from(["post_created", "post_edited", "topic_created", "ping", "", "user_created", "\u00e9"]),
    body=forum_bodies,
    signing=st.sampled_from(["signed", "signed", "signed", "unsigned", "forged", "garbage"]),
    extra_headers=headers,
)
def test_random_deliveries_to_the_community_webhook_never_get_a_5xx(
    method: str, key: str, name: str, body: bytes, signing: str, extra_headers: dict[str, str]
) -> None:
    request_headers, body = community.delivery(name or "post_created", body)
    if not name:
        del request_headers["X-Discourse-Event"]
    if signing == "unsigned":
        del request_headers["X-Discourse-Event-Signature"]
    elif signing == "forged":
        request_headers, _ = community.delivery(name or "post_created", body + b" ", secret="guess")
    elif signing == "garbage":
        request_headers["X-Discourse-Event-Signature"] = "sha256=zz\u00e9"
    before = len(FORUM_RECORDER.calls)
    response = FORUM_CLIENT.open(f"/webhooks/community/{key}", method=method, data=body,
                                 headers={**request_headers, **extra_headers})
    assert response.status_code < 500, response.get_data(as_text=True)
    event(f"community {signing} {method} -> {response.status_code}")
    reached_hub = len(FORUM_RECORDER.calls) > before
    if reached_hub:
        assert response.status_code == 200 and signing == "signed" and method == "POST"
    if response.status_code != 200:
        assert not reached_hub
