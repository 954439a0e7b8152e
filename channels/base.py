"""Message types shared by every channel, the hub and the bots.

Nothing channel-specific (XML, wechatpy objects) travels past `channels/`: a webhook turns its payload
into an `InboundMessage`, and the hub hands a channel an `OutboundMessage` to deliver.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

# Kinds of inbound message. Events carry their own name in `InboundMessage.event`.
TEXT = "text"
IMAGE = "image"
VOICE = "voice"
VIDEO = "video"
SHORTVIDEO = "shortvideo"
LOCATION = "location"
LINK = "link"
EVENT = "event"
UNKNOWN = "unknown"
KINDS = (TEXT, IMAGE, VOICE, VIDEO, SHORTVIDEO, LOCATION, LINK, EVENT, UNKNOWN)



@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One thing a fan did on a channel, normalised.

    `text` is what a bot or a classifier should read: the text of a text message, the recognition of a
    voice message, the title of a link, the key of a menu click; empty when there is nothing to read.
    `external_id` is the channel's own id, used for dedupe (WeChat: MsgId, or sender:time:event for events).
    """

    channel: str
    account: str
    sender: str
    kind: str
    text: str
    external_id: str
    sent_at: datetime
    event: str | None = None
    event_key: str | None = None
    media_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    raw: str = ""

    @property
    def is_event(self) -> bool:
        return self.kind == EVENT


# Kinds of outbound message.
OUT_TEXT = "text"
OUT_TRANSFER = "transfer"  # passive only: hand the fan to WeChat's customer-service (kf) system


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """What the hub wants a fan to receive, either as a passive reply or through the channel's API."""

    account: str
    recipient: str
    kind: str = OUT_TEXT
    text: str = ""
    kf_account: str | None = None
    # The channel's details of the message this one answers (its `extra` as stored: a forum's topic and post).
    in_reply_to: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """A channel account as the hub stores it: what a channel needs to verify, decrypt and send."""

    key: str
    channel: str
    token: str = ""
    app_id: str = ""
    app_secret: str = ""
    aes_key: str | None = None
    api_base: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)


class SendError(Exception):
    """Delivery failed. `permanent` failures must not be retried (window closed, quota, bad token)."""

    permanent: bool = False

    def __init__(self, code: int | str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class PermanentSendError(SendError):
    permanent = True


class TransientSendError(SendError):
    permanent = False


class TokenCache(Protocol):
    """Where a channel keeps its API access token, shared by every process (the hub backs it with Redis)."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str, ttl_seconds: int) -> None: ...

    def delete(self, key: str) -> None: ...

    def lock(self, key: str, timeout_seconds: float) -> AbstractContextManager[Any]: ...


class ReplayMemory(Protocol):
    """What a webhook saw recently, shared by every web process (the hub backs it with Redis, SET NX EX).

    `remember` keeps `value` under `key` for `ttl_seconds` unless the key holds a value already, and returns
    the value it held before: None for a new key. None also when the memory cannot be reached; the caller
    then goes on unchecked (the hub's choice: a message is never refused because Redis is down)."""

    def remember(self, key: str, value: str, ttl_seconds: int) -> str | None: ...


# The hub's answer to a webhook: given a message, return the passive reply or None ("success").
OnMessage = Callable[[InboundMessage], OutboundMessage | None]
# How a webhook finds an account by the key in its URL; None means unknown (404).
AccountLookup = Callable[[str], AccountConfig | None]


class WebhookRejected(Exception):
    """A webhook request that must be refused with a 4xx; `reason` goes to the log, never secrets."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

