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
