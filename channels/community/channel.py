"""CommunityChannel: a Discourse forum the hub mounts (webhook) and answers on (API)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

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
from channels.community.api import create_post
from channels.community.inbound import CHANNEL
from channels.community.settings import forum_settings
from channels.community.webhook import DEFAULT_MAX_BODY, CommunityWebhook, WebhookSettings


def _positive(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


class CommunityChannel:
    """One forum: posts arrive by webhook; the hub's answers are posted on the fan's topic as the API user."""

    name = CHANNEL

    def __init__(self, config: AccountConfig, session: requests.Session, timeout: float = 10.0) -> None:
        self.config = config
        self.forum = forum_settings(config)
        self.session = session
        self.timeout = timeout

    @classmethod
    def from_account(
        cls,
        config: AccountConfig,
        token_cache: TokenCache | None = None,  # the forum's API key needs no token: accepted for uniformity
        *,
        session: requests.Session | None = None,
    ) -> CommunityChannel:
        timeout = float(config.settings.get("timeout_seconds", 10.0))
        return cls(config, session or requests.Session(), timeout)

    @classmethod
    def webhook(
        cls,
        on_message: OnMessage,
        lookup: AccountLookup,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY,
        clock: Callable[[], float] = time.time,
    ) -> CommunityWebhook:
        """The webhook as a WSGI app serving "/<key>"; the hub mounts it at /webhooks/community. `on_message`'s
        answer is not sent back: a forum takes replies only through its API."""
        return CommunityWebhook(on_message, lookup, WebhookSettings(max_body_bytes, clock))

    def send(self, outbound: OutboundMessage) -> str | None:
        """Post the text on the topic of the post it answers, as a reply to that post; the new post's id."""
        if outbound.kind != OUT_TEXT:
            raise PermanentSendError("kind", f"a forum takes only text, not {outbound.kind!r}")
        if not outbound.text.strip():
            raise PermanentSendError("empty", "a post needs some text")
        topic_id = _positive(outbound.in_reply_to.get("topic_id"))
        if topic_id is None:
            raise PermanentSendError("no_topic", "the message answers no forum post, so there is no topic to "
                                                 "reply on")
        post_number = _positive(outbound.in_reply_to.get("post_number"))
        post = create_post(self.session, self.forum, topic_id, outbound.text, post_number, self.timeout)
        post_id = post.get("id")
        return str(post_id) if post_id is not None else None
