"""The Official Account webhook: URL verification (GET) and messages (POST) in plaintext, compatible and
safe mode. Every rejected request gets a 4xx and one log line with its reason; nothing here logs secrets.

The account's mode (`message_mode`) decides what a POST may be: safe mode only encrypted messages, plaintext
mode only plaintext ones, compatible mode both (the state to be in while switching WeChat's console between
the two). In plaintext mode WeChat signs only token, timestamp and nonce, not the body, so a captured request
URL would carry any body for the whole replay window: the webhook remembers the (timestamp, nonce) of each
plaintext message with a digest of its body (`WebhookSettings.replay_memory`, shared by every web process) and
refuses a different body under a pair already seen; a retry with the same body goes through (and is answered
as a retry by the hub's dedupe). Encrypted messages need no such memory: msg_signature covers the ciphertext,
so a replayed URL can only carry the very message it was signed for — except in compatible mode, where the
same URL stripped of its encryption would be taken as plaintext, so there they claim their pair too.

It is a plain WSGI app (the environ in, a status line and a short body out), not a Flask blueprint: a fan
message is the hub's hottest request, and Flask's per-request machinery (contexts, routing, signals, hooks,
the request proxy) cost about a third of what the hub spends on it. The hub mounts it below
/webhooks/wechat."""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from channels.base import (
    AccountConfig,
    InboundMessage,
    OnMessage,
    ReplayMemory,
    WebhookRejected,
)
from channels.wechat.crypto import CryptoError, MessageCrypto, sign, signature_matches
from channels.wechat.http import KeyedWebhookApp, Request, Response, read_body
from channels.wechat.inbound import CHANNEL, parse_message
from channels.wechat.replies import ReplyEncoder, render_reply
from channels.wechat.xmlsafe import XmlRejected, decode_utf8, parse_fields

if TYPE_CHECKING:
    pass

log = logging.getLogger("channels.wechat")

MAX_ECHOSTR = 1024

# How an account's messages arrive (WeChat's console: 服务器配置 → 消息加解密方式).
PLAINTEXT, COMPATIBLE, SAFE = "plaintext", "compatible", "safe"
MODES = (PLAINTEXT, COMPATIBLE, SAFE)


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    max_body_bytes: int = 64 * 1024
    replay_window_seconds: int = 300
    reply_encoder: ReplyEncoder = render_reply
    clock: Callable[[], float] = time.time
    # Where the (timestamp, nonce) pairs of plaintext messages are remembered; None: not checked.
    replay_memory: ReplayMemory | None = None


def message_mode(account: AccountConfig) -> str:
    """The account's mode: `settings["mode"]` when set (plaintext, compatible or safe), otherwise safe with an
    EncodingAESKey and plaintext without (what `hub account add wechat [--aes-key]` has always meant)."""
    mode = account.settings.get("mode")
    if mode is None:
        return SAFE if account.aes_key else PLAINTEXT
    if mode not in MODES:
        log.error("wechat account %r is misconfigured: mode %r is not one of %s", account.key, mode, MODES)
        raise WebhookRejected(403, "account misconfigured: its mode must be plaintext, compatible or safe")
    return str(mode)




def _check_timestamp(timestamp: str | None, settings: WebhookSettings) -> int:
    if not timestamp or not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise WebhookRejected(403, "missing or malformed timestamp")
    skew = abs(settings.clock() - int(timestamp))
    if skew > settings.replay_window_seconds:
        raise WebhookRejected(403, f"timestamp outside the replay window ({int(skew)} s off)")
    return int(timestamp)


def _crypto(account: AccountConfig) -> MessageCrypto:
    if not account.aes_key:
        raise WebhookRejected(403, "encrypted request but the account has no EncodingAESKey")
    try:
        return MessageCrypto(account.token, account.aes_key, account.app_id)
    except CryptoError as exc:
        log.error("wechat account %r is misconfigured: %s", account.key, exc.reason)
        raise WebhookRejected(403, "account misconfigured: " + exc.reason) from exc


def verify_url(request: Request, account: AccountConfig, settings: WebhookSettings) -> Response:
    """GET: answer WeChat's URL verification with the echostr (decrypted in safe mode if it is encrypted)."""
    args = request.args
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    echostr, msg_signature = args.get("echostr"), args.get("msg_signature")
    if msg_signature and account.aes_key:
        if echostr is None:
            raise WebhookRejected(400, "missing echostr")
        crypto = _crypto(account)
        if not signature_matches(sign(account.token, timestamp, nonce, echostr), msg_signature):
            raise WebhookRejected(403, "msg_signature does not match")
        _check_timestamp(timestamp, settings)
        try:
            return Response(crypto.decrypt(echostr))
        except CryptoError as exc:
            raise WebhookRejected(exc.status, "echostr: " + exc.reason) from exc
    if not signature_matches(sign(account.token, timestamp, nonce), args.get("signature")):
        raise WebhookRejected(403, "missing or forged signature")
    _check_timestamp(timestamp, settings)
    if not echostr or len(echostr) > MAX_ECHOSTR:
        raise WebhookRejected(400, "missing or oversized echostr")
    return Response(echostr)


def _decrypted_xml(
    request: Request, account: AccountConfig, mode: str, body: bytes, settings: WebhookSettings
) -> tuple[str, bool]:
    """The message XML of a POST after authentication, and whether the request was encrypted."""
    args = request.args
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    if args.get("encrypt_type", "").lower() != "aes":
        if not signature_matches(sign(account.token, timestamp, nonce), args.get("signature")):
            raise WebhookRejected(403, "missing or forged signature")
        _check_timestamp(timestamp, settings)
        if mode == SAFE:
            raise WebhookRejected(
                403, "plaintext request but the account is in safe mode (encrypted messages only): set WeChat's "
                "消息加解密方式 to 安全模式, or the account's mode to compatible while switching"
            )
        return decode_utf8(body), False
    if mode == PLAINTEXT and account.aes_key:  # without a key, _crypto says so
        raise WebhookRejected(403, "encrypted request but the account is in plaintext mode")

    # Safe and compatible mode: msg_signature covers the ciphertext; the plaintext fields that compatible
    # mode also sends are not authenticated, so only the decrypted message is used.
    msg_signature = args.get("msg_signature")
    if not msg_signature:
        raise WebhookRejected(403, "encrypted request without msg_signature")
    _check_timestamp(timestamp, settings)
    crypto = _crypto(account)
    encrypted = (parse_fields(decode_utf8(body)).get("Encrypt") or "").strip()
    if not encrypted:
        raise WebhookRejected(400, "encrypted request without <Encrypt>")
    try:
        return crypto.decrypt_verified(msg_signature, timestamp, nonce, encrypted), True
    except CryptoError as exc:
        raise WebhookRejected(exc.status, exc.reason) from exc


def _check_replay(request: Request, account: AccountConfig, body: bytes, settings: WebhookSettings) -> None:
    """Refuse a message whose signed (timestamp, nonce) came before with a different body.

    The pair is remembered per account until its timestamp leaves the replay window (after that
    _check_timestamp refuses it anyway); processes on other machines must keep their clocks in step (NTP)."""
    memory = settings.replay_memory
    if memory is None:
        return
    args = request.args
    timestamp = int(args["timestamp"])  # checked by _check_timestamp
    ttl = timestamp + settings.replay_window_seconds - int(settings.clock()) + 1
    digest = hashlib.blake2b(body, digest_size=16).hexdigest()
    seen = memory.remember(f"{CHANNEL}:{account.key}:{timestamp}:{args.get('nonce', '')}", digest, max(1, ttl))
    if seen is not None and seen != digest:
        raise WebhookRejected(403, "a different body under a timestamp and nonce already used: a replayed request")


def _reply_body(
    account: AccountConfig,
    inbound: InboundMessage,
    on_message: OnMessage,
    encrypted: bool,
    settings: WebhookSettings,
) -> Response:
    reply = on_message(inbound)  # other exceptions propagate to the hub on purpose
    if reply is None:
        return Response("success")
    now = int(settings.clock())
    xml = settings.reply_encoder(reply, inbound, now)
    if xml is None:
        return Response("success")
    if encrypted:
        nonce = str(secrets.randbelow(10**10))
        xml = _crypto(account).encrypt_reply(xml, nonce=nonce, timestamp=str(now))
    return Response(xml, 200, "application/xml; charset=utf-8")


def receive(
    request: Request, account: AccountConfig, on_message: OnMessage, settings: WebhookSettings
) -> Response:
    """POST: authenticate, decrypt, parse, hand to the hub, answer with its passive reply or "success"."""
    body = read_body(request, settings.max_body_bytes)
    mode = message_mode(account)
    try:
        xml, encrypted = _decrypted_xml(request, account, mode, body, settings)
        inbound = parse_message(xml, account.key)
    except XmlRejected as exc:
        raise WebhookRejected(400, exc.reason) from exc
    # After parsing: only a message the hub takes claims its pair. An encrypted one needs the check only in
    # compatible mode, where its URL stripped of encrypt_type and msg_signature would be taken as plaintext.
    if not encrypted or mode == COMPATIBLE:
        _check_replay(request, account, body, settings)
    return _reply_body(account, inbound, on_message, encrypted, settings)


class WebhookApp(KeyedWebhookApp):
    """The channel's webhook on "/<key>" (see KeyedWebhookApp): GET verifies the URL, POST takes a message."""

    channel = CHANNEL

    def verify(self, request: Request, account: AccountConfig) -> Response:
        return verify_url(request, account, self.settings)

    def receive(self, request: Request, account: AccountConfig) -> Response:
        return receive(request, account, self.on_message, self.settings)
