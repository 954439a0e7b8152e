"""The WeCom (企业微信) self-built app callback: URL verification (GET) and messages (POST), always encrypted.

WeCom signs every callback with msg_signature = sha1(sorted(token, timestamp, nonce, ciphertext)) and encrypts
with the app's EncodingAESKey, the receive id inside the ciphertext being the CorpID (接收消息服务器配置,
加解密方案). The wire format is WeChat's safe mode, so the crypto, the request reading and the XML parser are
the WeChat channel's (constant-time compares, padding and length checks, no DTD or entities, a size limit);
this module adds WeCom's rules: GET answers the decrypted echostr, POST is refused unless encrypted, the
decrypted receive id must be the account's CorpID and the message's AgentID (when it names one) the account's.

Replay: msg_signature covers the ciphertext and the timestamp, which must lie within the replay window, so a
captured request can only carry the very message it was signed for; a replay of it is a retry to the hub's
dedupe (MsgId, or member:time:event for events).

Replies: the hub's passive reply goes back encrypted in the response, as WeCom expects (被动回复消息); with
nothing to say, the body is empty (WeCom's "no reply"), and answers that come later go through the message API
(`WeComChannel.send`). A passive reply keeps the hub's one webhook contract (`OnMessage` returns the reply it
stored as passive), so nothing the hub decides in the webhook is lost.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from channels.base import AccountConfig, OnMessage, WebhookRejected
from channels.wechat.crypto import CryptoError, MessageCrypto
from channels.wechat.http import KeyedWebhookApp, Request, Response, read_body
from channels.wechat.xmlsafe import XmlRejected, decode_utf8, parse_fields
from channels.wecom.inbound import CHANNEL, agent_id_of, to_wecom_inbound
from channels.wecom.replies import render_reply

if TYPE_CHECKING:
    pass

log = logging.getLogger("channels.wecom")

MAX_ECHOSTR = 1024
MAX_QUERY_VALUE = 128  # timestamp, nonce, msg_signature: a few dozen characters each


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    max_body_bytes: int = 64 * 1024
    replay_window_seconds: int = 300
    clock: Callable[[], float] = time.time




def _crypto(account: AccountConfig) -> MessageCrypto:
    if not account.aes_key or not account.app_id:
        log.error("wecom account %r is misconfigured: it needs an EncodingAESKey and a CorpID", account.key)
        raise WebhookRejected(403, "account misconfigured: it needs an EncodingAESKey and a CorpID")
    try:
        return MessageCrypto(account.token, account.aes_key, account.app_id)
    except CryptoError as exc:
        log.error("wecom account %r is misconfigured: %s", account.key, exc.reason)
        raise WebhookRejected(403, "account misconfigured: " + exc.reason) from exc


def _signed_query(request: Request, settings: WebhookSettings) -> tuple[str, str, str]:
    """timestamp, nonce and msg_signature of the query, the timestamp inside the replay window."""
    args = request.args
    timestamp, nonce, msg_signature = args.get("timestamp", ""), args.get("nonce", ""), args.get("msg_signature")
    if not msg_signature:
        raise WebhookRejected(403, "missing msg_signature (WeCom callbacks are always signed and encrypted)")
    if len(nonce) > MAX_QUERY_VALUE or len(msg_signature) > MAX_QUERY_VALUE:
        raise WebhookRejected(400, "oversized nonce or msg_signature")
    if not timestamp or not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise WebhookRejected(403, "missing or malformed timestamp")
    skew = abs(settings.clock() - int(timestamp))
    if skew > settings.replay_window_seconds:
        raise WebhookRejected(403, f"timestamp outside the replay window ({int(skew)} s off)")
    return timestamp, nonce, msg_signature


def _decrypt(crypto: MessageCrypto, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> str:
    try:
        return crypto.decrypt_verified(msg_signature, timestamp, nonce, encrypted)
    except CryptoError as exc:
        reason = exc.reason.replace("AppID", "CorpID (receive id)")
        raise WebhookRejected(exc.status, reason) from exc


def verify_url(request: Request, account: AccountConfig, settings: WebhookSettings) -> Response:
    """GET: WeCom's URL verification; the answer is the decrypted echostr, nothing else."""
    crypto = _crypto(account)
    timestamp, nonce, msg_signature = _signed_query(request, settings)
    echostr = request.args.get("echostr")
    if not echostr or len(echostr) > MAX_ECHOSTR:
        raise WebhookRejected(400, "missing or oversized echostr")
    # Base64 has no spaces: a "+" sent without percent-encoding was read as a space (query decoding).
    echostr = echostr.replace(" ", "+")
    return Response(_decrypt(crypto, msg_signature, timestamp, nonce, echostr))


def receive(request: Request, account: AccountConfig, on_message: OnMessage, settings: WebhookSettings) -> Response:
    """POST: authenticate, decrypt, parse, hand to the hub, answer with its encrypted passive reply or ""."""
    body = read_body(request, settings.max_body_bytes)  # first, bounded: an unread body would upset keep-alive
    crypto = _crypto(account)
    timestamp, nonce, msg_signature = _signed_query(request, settings)
    try:
        encrypted = (parse_fields(decode_utf8(body)).get("Encrypt") or "").strip()
        if not encrypted:
            raise WebhookRejected(400, "request without <Encrypt> (WeCom callbacks are always encrypted)")
        xml = _decrypt(crypto, msg_signature, timestamp, nonce, encrypted)
        fields = parse_fields(xml)
        agent_id = agent_id_of(fields)
        expected = str(account.settings.get("agent_id") or "")
        if agent_id is not None and expected and agent_id != expected:
            raise WebhookRejected(403, f"message for AgentID {agent_id}, the account is AgentID {expected}")
        inbound = to_wecom_inbound(fields, xml, account.key)
    except XmlRejected as exc:
        raise WebhookRejected(400, exc.reason) from exc
    reply = on_message(inbound)  # other exceptions propagate to the hub on purpose
    if reply is None:
        return Response("")
    now = int(settings.clock())
    xml_reply = render_reply(reply, inbound, now)
    if xml_reply is None:
        return Response("")
    envelope = crypto.encrypt_reply(xml_reply, nonce=str(secrets.randbelow(10**10)), timestamp=str(now))
    return Response(envelope, 200, "application/xml; charset=utf-8")


class WebhookApp(KeyedWebhookApp):
    """The channel's webhook on "/<key>" (see KeyedWebhookApp): GET verifies the URL, POST takes a message."""

    channel = CHANNEL

    def verify(self, request: Request, account: AccountConfig) -> Response:
        return verify_url(request, account, self.settings)

    def receive(self, request: Request, account: AccountConfig) -> Response:
        return receive(request, account, self.on_message, self.settings)
