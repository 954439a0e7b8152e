"""WeComChannel: a WeCom (企业微信) self-built app, the hub mounts its webhook and sends through its message API.

An account stores the app as: `app_id` = CorpID (the receive id of the callback crypto), `app_secret` = the
app's Secret (for gettoken), `token` and `aes_key` = the callback's Token and EncodingAESKey, and
`settings["agent_id"]` = the AgentId that messages are sent from (`hub account add wecom`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

from channels.base import (
    OUT_TEXT,
    AccountConfig,
    AccountLookup,
    OnMessage,
    OutboundMessage,
    PermanentSendError,
    TokenCache,
)
from channels.wecom.client import ApiAnswer, WeComClient, network_error
from channels.wecom.errors import TOKEN_ERRORS, from_errcode
from channels.wecom.webhook import WebhookApp, WebhookSettings

MAX_TEXT_BYTES = 2048  # message/send: a text's content is at most 2048 bytes


class WeComChannel:
    """One WeCom app: text messages to members through message/send."""

    name = "wecom"

    def __init__(self, config: AccountConfig, client: WeComClient) -> None:
        self.config = config
        self.client = client

    @classmethod
    def from_account(
        cls,
        config: AccountConfig,
        token_cache: TokenCache,
        *,
        session: requests.Session | None = None,
    ) -> WeComChannel:
        timeout = float(config.settings.get("timeout_seconds", 10.0))
        return cls(config, WeComClient(config, token_cache, session=session, timeout=timeout))

    @classmethod
    def webhook(
        cls,
        on_message: OnMessage,
        lookup: AccountLookup,
        *,
        max_body_bytes: int = 64 * 1024,
        replay_window_seconds: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> WebhookApp:
        """The callback as a WSGI app serving "/<key>"; the hub mounts it at /webhooks/wecom."""
        return WebhookApp(on_message, lookup, WebhookSettings(max_body_bytes, replay_window_seconds, clock))

    @property
    def agent_id(self) -> int:
        value = str(self.config.settings.get("agent_id") or "")
        if not value.isdigit():
            raise PermanentSendError("agent_id", f"account {self.config.key!r} has no numeric AgentId")
        return int(value)

    def send(self, outbound: OutboundMessage) -> str | None:
        """Deliver a text to one member (touser = their UserID); returns WeCom's msgid if any."""
        if outbound.kind != OUT_TEXT:
            raise PermanentSendError("kind", f"{outbound.kind!r} cannot be sent through WeCom's message API")
        if not outbound.recipient or not outbound.text:
            raise PermanentSendError("empty", "a message needs a recipient and some text")
        if len(outbound.text.encode("utf-8")) > MAX_TEXT_BYTES:
            raise PermanentSendError(45002, f"a WeCom text is at most {MAX_TEXT_BYTES} bytes")
        payload = {"touser": outbound.recipient, "msgtype": "text", "agentid": self.agent_id,
                   "text": {"content": outbound.text}, "safe": 0}
        try:
            token = self.client.current_token()
            for attempt in (1, 2):
                try:
                    result = self.client.post("message/send", token, payload)
                except ApiAnswer as exc:
                    if attempt == 1 and exc.errcode in TOKEN_ERRORS:
                        token = self.client.replace_rejected(token)
                        continue
                    raise from_errcode(exc.errcode, exc.errmsg) from None
                break
        except requests.RequestException as exc:
            raise network_error(exc) from None
        # errcode 0 with the member listed as invalid: WeCom accepted the call but delivered to nobody.
        invalid = str(result.get("invaliduser") or "")
        if outbound.recipient in invalid.split("|"):
            raise PermanentSendError(81013, "the member is not in the app's visible range (or does not exist)")
        msgid = result.get("msgid")
        return str(msgid) if msgid else None
