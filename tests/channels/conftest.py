"""Fixtures for the channel tests: the WeChat webhook's WSGI app mounted at /webhooks/wechat, and request builders that
sign and encrypt with wechatpy (an implementation independent of ours)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import xmltodict
from wechatpy.crypto import WeChatCrypto
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client

from channels.base import AccountConfig, InboundMessage, OutboundMessage
from channels.wechat import WeChatChannel

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "wechat"

TOKEN = "hubtesttoken"
APP_ID = "wx1234567890abcdef"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
MAX_BODY = 4096

ACCOUNTS = {
    "plain": AccountConfig(key="plain", channel="wechat", token=TOKEN, app_id=APP_ID, app_secret="s3cret"),
    "safe": AccountConfig(
        key="safe", channel="wechat", token=TOKEN, app_id=APP_ID, app_secret="s3cret", aes_key=AES_KEY
    ),
    "badkey": AccountConfig(
        key="badkey", channel="wechat", token=TOKEN, app_id=APP_ID, app_secret="s3cret", aes_key="short"
    ),
    "wecom": AccountConfig(key="wecom", channel="wecom", token=TOKEN),
}


def fixture_xml(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def sha1_sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - the protocol


def plain_query(timestamp: int | None = None, nonce: str = "461056294", token: str = TOKEN) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"timestamp": ts, "nonce": nonce, "signature": sha1_sign(token, ts, nonce)}


@dataclass
class Recorder:
    """The hub side of the webhook: records what arrives and answers with `reply`."""

    calls: list[InboundMessage] = field(default_factory=list)
    reply: Callable[[InboundMessage], OutboundMessage | None] = lambda inbound: None

    def __call__(self, inbound: InboundMessage) -> OutboundMessage | None:
        self.calls.append(inbound)
        return self.reply(inbound)


@dataclass
class Webhook:
    client: Client
    recorder: Recorder
    crypto: WeChatCrypto = field(default_factory=lambda: WeChatCrypto(TOKEN, AES_KEY, APP_ID))

    def url(self, key: str, query: dict[str, str]) -> str:
        return f"/webhooks/wechat/{key}?{urlencode(query)}"

    def post_plain(self, xml: str | bytes, key: str = "plain", **query_kw: Any) -> Any:
        return self.client.post(self.url(key, plain_query(**query_kw)), data=xml)

    def encrypted(self, xml: str, timestamp: int | None = None, nonce: str = "1372623149") -> tuple[str, dict]:
        """An encrypted envelope made by wechatpy, and the query WeChat would send with it."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        envelope = self.crypto.encrypt_message(xml, nonce, ts)
        fields = xmltodict.parse(envelope)["xml"]
        body = (
            "<xml><ToUserName><![CDATA[gh_test]]></ToUserName>"
            f"<Encrypt><![CDATA[{fields['Encrypt']}]]></Encrypt></xml>"
        )
        query = {
            "timestamp": ts,
            "nonce": nonce,
            "signature": sha1_sign(TOKEN, ts, nonce),
            "encrypt_type": "aes",
            "msg_signature": fields["MsgSignature"],
            "openid": "fromUser",
        }
        return body, query

    def post_safe(self, xml: str, key: str = "safe", **kw: Any) -> Any:
        body, query = self.encrypted(xml, **kw)
        return self.client.post(self.url(key, query), data=body)


def make_wsgi(recorder: Recorder, accounts: dict[str, AccountConfig] = ACCOUNTS, **webhook_kw: Any) -> Any:
    """The webhook mounted as the hub mounts it: at /webhooks/wechat, anything else a 404."""
    webhook = WeChatChannel.webhook(recorder, accounts.get, max_body_bytes=MAX_BODY, **webhook_kw)
    return DispatcherMiddleware(NotFound(), {"/webhooks/wechat": webhook})


def make_client(recorder: Recorder, accounts: dict[str, AccountConfig] = ACCOUNTS, **webhook_kw: Any) -> Client:
    return Client(make_wsgi(recorder, accounts, **webhook_kw))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def webhook(recorder: Recorder) -> Webhook:
    return Webhook(make_client(recorder), recorder)
