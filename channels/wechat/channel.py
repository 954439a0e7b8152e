"""WeChatChannel: the Official Account channel the hub mounts (webhook) and sends through (API)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import requests
from wechatpy.exceptions import WeChatClientException

from channels.base import (
    OUT_TEXT,
    AccountConfig,
    AccountLookup,
    OnMessage,
    OutboundMessage,
    PermanentSendError,
    ReplayMemory,
    TokenCache,
    TransientSendError,
)
from channels.wechat.client import SharedTokenClient
from channels.wechat.errors import TOKEN_ERRORS, from_exception
from channels.wechat.replies import ReplyEncoder, render_reply
from channels.wechat.webhook import WebhookApp, WebhookSettings

T = TypeVar("T")
TAG_BATCH = 50  # WeChat's limit for batch (un)tagging


class WeChatChannel:
    """One Official Account: customer-service messages, user tags and user info through wechatpy."""

    name = "wechat"

    def __init__(self, config: AccountConfig, client: SharedTokenClient) -> None:
        self.config = config
        self.client = client

    @classmethod
    def from_account(
        cls,
        config: AccountConfig,
        token_cache: TokenCache,
        *,
        session: requests.Session | None = None,
    ) -> WeChatChannel:
        timeout = float(config.settings.get("timeout_seconds", 10.0))
        return cls(config, SharedTokenClient(config, token_cache, session=session, timeout=timeout))

    @classmethod
    def webhook(
        cls,
        on_message: OnMessage,
        lookup: AccountLookup,
        *,
        max_body_bytes: int = 64 * 1024,
        replay_window_seconds: int = 300,
        reply_encoder: ReplyEncoder = render_reply,
        clock: Callable[[], float] = time.time,
        replay_memory: ReplayMemory | None = None,
    ) -> WebhookApp:
        """The webhook as a WSGI app serving "/<key>"; the hub mounts it at /webhooks/wechat. `replay_memory`
        (shared by the web processes) lets it refuse replayed plaintext-mode requests."""
        settings = WebhookSettings(max_body_bytes, replay_window_seconds, reply_encoder, clock, replay_memory)
        return WebhookApp(on_message, lookup, settings)

    # -- API calls ---------------------------------------------------------------------------------------

    def _call(self, fn: Callable[[], T]) -> T:
        """Run a wechatpy call with the shared token; on a token error refresh once and retry once."""
        token = self.client.current_token()
        for attempt in (1, 2):
            self.client.pin(token)
            try:
                result = fn()
            except WeChatClientException as exc:
                if attempt == 1 and exc.errcode is not None and int(exc.errcode) in TOKEN_ERRORS:
                    token = self.client.replace_rejected(token)
                    continue
                raise from_exception(exc) from None
            except requests.RequestException as exc:
                raise from_exception(exc) from None
            finally:
                self.client.pin(None)
            if not isinstance(result, dict | list):
                # wechatpy hands back the raw response when it is not JSON
                raise TransientSendError("response", "WeChat API answered with something other than JSON")
            return result
        raise AssertionError("unreachable")

    def send(self, outbound: OutboundMessage) -> str | None:
        """Deliver a text through the customer-service message API; returns WeChat's msgid if any."""
        if outbound.kind != OUT_TEXT:
            raise PermanentSendError("kind", f"{outbound.kind!r} can only be a passive reply, not sent")
        if not outbound.recipient or not outbound.text:
            raise PermanentSendError("empty", "a message needs a recipient and some text")
        send_text = self.client.message.send_text
        result: dict[str, Any] = self._call(
            lambda: send_text(outbound.recipient, outbound.text, account=outbound.kf_account)
        )
        msgid = result.get("msgid")
        return str(msgid) if msgid is not None else None

    def list_tags(self) -> list[dict[str, Any]]:
        """All tags of the account: [{"id": int, "name": str, "count": int}, ...]."""
        return list(self._call(lambda: self.client.tag.get()))

    def create_tag(self, name: str) -> int:
        tag: dict[str, Any] = self._call(lambda: self.client.tag.create(name))
        return int(tag["id"])

    def delete_tag(self, tag_id: int) -> None:
        self._call(lambda: self.client.tag.delete(int(tag_id)))

    def tag_users(self, tag_id: int, openids: Iterable[str]) -> None:
        """Tag fans, at most 50 per API call."""
        for batch in _batches(openids, TAG_BATCH):
            self._call(lambda batch=batch: self.client.tag.tag_user(int(tag_id), batch))

    def untag_users(self, tag_id: int, openids: Iterable[str]) -> None:
        for batch in _batches(openids, TAG_BATCH):
            self._call(lambda batch=batch: self.client.tag.untag_user(int(tag_id), batch))

    def user_info(self, openid: str) -> dict[str, Any]:
        """user/info as WeChat returns it: subscribe (0/1), openid, unionid when bound, subscribe_scene,
        qr_scene_str, tagid_list, ..."""
        info: dict[str, Any] = self._call(lambda: self.client.user.get(openid))
        return dict(info)


def _batches(items: Iterable[str], size: int) -> Iterable[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
