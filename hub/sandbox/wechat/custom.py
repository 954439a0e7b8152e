"""Validation and delivery rules of message/custom/send (客服消息): the 48 h window and the quota."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import ApiError
from .models import Fan, OutboxMessage

MSG_TYPES = frozenset(
    {
        "text",
        "image",
        "voice",
        "video",
        "music",
        "news",
        "mpnews",
        "mpnewsarticle",
        "msgmenu",
        "wxcard",
        "miniprogrampage",
    }
)
MESSAGE_KINDS = frozenset({"text", "image", "voice", "video", "shortvideo", "location", "link"})
# Interactions that open the 48 h window (客服消息: message, subscribe, QR scan, some menu clicks).
WINDOW_EVENTS = frozenset({"subscribe", "scan", "click", "scancode_push", "scancode_waitmsg"})


def opens_window(kind: str) -> bool:
    return kind in MESSAGE_KINDS or kind.lower() in WINDOW_EVENTS


def deliver(appid: str, fans: Mapping[str, Fan], payload: Any, now: float) -> OutboxMessage:
    """Check a send request against the fan's window and quota; consume one unit of quota on success."""
    if not isinstance(payload, dict):
        raise ApiError(47001)
    openid, msgtype = payload.get("touser"), payload.get("msgtype")
    fan = fans.get(openid) if isinstance(openid, str) else None
    if fan is None:
        raise ApiError(40003)
    if msgtype not in MSG_TYPES:
        raise ApiError(40008)
    body = payload.get(msgtype)
    if not isinstance(body, dict):
        raise ApiError(47001)
    if msgtype == "text" and not (isinstance(body.get("content"), str) and body["content"]):
        raise ApiError(44004)
    if not fan.subscribe or fan.window_until <= now:
        raise ApiError(45015)
    if fan.quota_left <= 0:
        raise ApiError(45047)
    fan.quota_left -= 1
    service = payload.get("customservice")
    kf = service.get("kf_account") if isinstance(service, dict) else None
    return OutboxMessage(appid, fan.openid, msgtype, body, now, kf if isinstance(kf, str) else None)


def summary(msg: OutboxMessage) -> str:
    """One line describing a delivered message, for the conversation log."""
    if msg.text is not None:
        return msg.text
    for key in ("media_id", "title", "url", "card_id", "pagepath"):
        value = msg.payload.get(key)
        if isinstance(value, str):
            return f"[{msg.msgtype}] {value}"
    return f"[{msg.msgtype}]"
