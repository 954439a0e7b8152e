"""Turn a (decrypted) WeChat XML message or event into an InboundMessage.

Every MsgType and Event is kept: the types we know get typed fields in `extra`, anything else becomes
kind "unknown" (or kind "event" with its name) with all its fields in `extra["fields"]`. The mapping works
on the flattened message (path -> text), so it does not depend on the wire format.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from channels import base
from channels.wechat.xmlsafe import XmlRejected, parse_fields

Fields = Mapping[str, str]

CHANNEL = "wechat"
QRSCENE_PREFIX = "qrscene_"

_MESSAGE_KINDS = {
    "text": base.TEXT,
    "image": base.IMAGE,
    "voice": base.VOICE,
    "video": base.VIDEO,
    "shortvideo": base.SHORTVIDEO,
    "location": base.LOCATION,
    "link": base.LINK,
}


# WeChat's numbers: ASCII digits (int() would also take "１２", "1_000" and 5,000-digit strings), and decimals
# without nan/inf. A value that is present but not such a number is refused with a 400 naming the field.
_INT = re.compile(r"[0-9]{1,20}")
_DECIMAL = re.compile(r"[-+]?(?:[0-9]{1,20}(?:\.[0-9]{0,20})?|\.[0-9]{1,20})(?:[eE][-+]?[0-9]{1,3})?")
MAX_CREATE_TIME = 253402300799  # 9999-12-31T23:59:59Z, the last second a datetime can hold
MAX_MSG_ID = 2**64 - 1  # MsgId is a 64-bit integer
MAX_COUNT = 2**53  # counts of a mass or template send (stored in JSON, which is exact up to here)
MAX_SCALE = 1000  # the map zoom of a location message (WeChat sends about 1..20)
MAX_PRECISION = 1e9  # metres
# Column limits of what the hub stores from these fields (an openid is 28 characters).
MAX_SENDER = 128
MAX_EVENT = 64
MAX_EVENT_KEY = 256
MAX_MSG_TYPE = 32
MAX_EXTERNAL_ID = 200


def _digits(root: Fields, tag: str, low: int, high: int) -> str | None:
    """A whole-number field in [low, high], as sent; None when it is absent or empty (WeChat leaves some
    empty)."""
    value = _get(root, tag)
    if not value:
        return None
    if not _INT.fullmatch(value) or not low <= int(value) <= high:
        raise XmlRejected(f"<{tag}> is not a whole number from {low} to {high}")
    return value


def _int(root: Fields, tag: str, low: int, high: int) -> int | None:
    value = _digits(root, tag, low, high)
    return None if value is None else int(value)


def _float(root: Fields, tag: str, low: float, high: float) -> float | None:
    """A decimal field in [low, high] (finite); None when it is absent or empty."""
    value = _get(root, tag)
    if not value:
        return None
    number = float(value) if _DECIMAL.fullmatch(value) else math.nan
    if not (math.isfinite(number) and low <= number <= high):
        raise XmlRejected(f"<{tag}> is not a number from {low:g} to {high:g}")
    return number


def _text(root: Fields, tag: str, limit: int) -> str | None:
    value = _get(root, tag)
    if value is not None and len(value) > limit:
        raise XmlRejected(f"<{tag}> is longer than {limit} characters")
    return value


def _get(root: Fields, tag: str, *, strip: bool = True) -> str | None:
    """A field's text, stripped of layout whitespace unless it is what a fan wrote (strip=False)."""
    value = root.get(tag)
    if value is None:
        return None
    return value.strip() if strip else value


def _put(extra: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        extra[key] = value


# -- per-kind fields: each returns (text, media_id) and fills `extra` ------------------------------------


def _message_fields(kind: str, root: Fields, extra: dict[str, Any]) -> tuple[str, str | None]:
    media_id = _get(root, "MediaId") or None
    if kind == base.TEXT:
        return _get(root, "Content", strip=False) or "", None
    if kind == base.IMAGE:
        _put(extra, "pic_url", _get(root, "PicUrl"))
        return "", media_id
    if kind == base.VOICE:
        _put(extra, "format", _get(root, "Format"))
        recognition = _get(root, "Recognition", strip=False)
        _put(extra, "recognition", recognition)
        return (recognition or "").strip(), media_id
    if kind in (base.VIDEO, base.SHORTVIDEO):
        _put(extra, "thumb_media_id", _get(root, "ThumbMediaId"))
        return "", media_id
    if kind == base.LOCATION:
        _put(extra, "latitude", _float(root, "Location_X", -90, 90))
        _put(extra, "longitude", _float(root, "Location_Y", -180, 180))
        _put(extra, "scale", _int(root, "Scale", 0, MAX_SCALE))
        _put(extra, "label", _get(root, "Label"))
        return "", None
    # link
    title = _get(root, "Title", strip=False) or ""
    _put(extra, "title", title)
    _put(extra, "description", _get(root, "Description", strip=False))
    _put(extra, "url", _get(root, "Url"))
    return title.strip(), None


def _subscribe(root: Fields, key: str | None, extra: dict[str, Any]) -> str:
    # A fan who subscribes by scanning a parametric QR code arrives with EventKey "qrscene_<scene>".
    if key and key.startswith(QRSCENE_PREFIX):
        extra["scene"] = key[len(QRSCENE_PREFIX) :]
        _put(extra, "ticket", _get(root, "Ticket"))
    return ""


def _scan(root: Fields, key: str | None, extra: dict[str, Any]) -> str:
    _put(extra, "scene", key)
    _put(extra, "ticket", _get(root, "Ticket"))
    return ""


def _click(root: Fields, key: str | None, extra: dict[str, Any]) -> str:
    return key or ""


def _view(root: Fields, key: str | None, extra: dict[str, Any]) -> str:
    _put(extra, "url", key)
    _put(extra, "menu_id", _get(root, "MenuId"))
    return ""


def _location_event(root: Fields, key: str | None, extra: dict[str, Any]) -> str:
    _put(extra, "latitude", _float(root, "Latitude", -90, 90))
    _put(extra, "longitude", _float(root, "Longitude", -180, 180))
    _put(extra, "precision", _float(root, "Precision", 0, MAX_PRECISION))
    return ""


def _job_finish(root: Fields, key: str | None, extra: dict[str, Any]) -> str:
    _put(extra, "status", _get(root, "Status"))
    for tag, name in (
        ("TotalCount", "total_count"),
        ("FilterCount", "filter_count"),
        ("SentCount", "sent_count"),
        ("ErrorCount", "error_count"),
    ):
        _put(extra, name, _int(root, tag, 0, MAX_COUNT))
    return ""


def _kf_session(root: Fields, key: str | None, extra: dict[str, Any]) -> str:
    _put(extra, "kf_account", _get(root, "KfAccount"))
    _put(extra, "from_kf_account", _get(root, "FromKfAccount"))
    _put(extra, "to_kf_account", _get(root, "ToKfAccount"))
    return ""


_EVENTS: dict[str, Callable[[Fields, str | None, dict[str, Any]], str]] = {
    "subscribe": _subscribe,
    "unsubscribe": lambda root, key, extra: "",
    "scan": _scan,
    "click": _click,
    "view": _view,
    "location": _location_event,
    "templatesendjobfinish": _job_finish,
    "masssendjobfinish": _job_finish,
    "kf_create_session": _kf_session,
    "kf_close_session": _kf_session,
    "kf_switch_session": _kf_session,
}


def _required(root: Fields, tag: str, limit: int) -> str:
    value = _text(root, tag, limit)
    if not value:
        raise XmlRejected(f"missing <{tag}>")
    return value


def _external_id(root: Fields, sender: str, created: int, kind: str) -> str:
    """MsgId for messages, MsgID for mass/template job events; otherwise sender:time:event (or type)."""
    msg_id = _digits(root, "MsgId", 0, MAX_MSG_ID) or _digits(root, "MsgID", 0, MAX_MSG_ID)
    if msg_id is not None:
        return msg_id
    fallback = f"{sender}:{created}:{kind}"
    if len(fallback) <= MAX_EXTERNAL_ID:
        return fallback
    return "sha256:" + hashlib.sha256(fallback.encode("utf-8", "surrogatepass")).hexdigest()


def to_inbound(root: Fields, raw: str, account: str) -> base.InboundMessage:
    """Map a parsed <xml> message to an InboundMessage; XmlRejected if a required field is missing."""
    sender = _required(root, "FromUserName", MAX_SENDER)
    msg_type = _required(root, "MsgType", MAX_MSG_TYPE).lower()
    # A signed message from the year 10000 is refused here: datetime cannot hold it.
    created = _int(root, "CreateTime", 0, MAX_CREATE_TIME)
    if created is None:
        raise XmlRejected("missing <CreateTime>")
    sent_at = datetime.fromtimestamp(created, tz=UTC)

    extra: dict[str, Any] = {}
    _put(extra, "to_user", _get(root, "ToUserName"))
    event_name = _text(root, "Event", MAX_EVENT)
    event = event_name.lower() if event_name else None
    event_key = _text(root, "EventKey", MAX_EVENT_KEY)
    media_id: str | None = None
    text = ""

    if msg_type in _MESSAGE_KINDS:
        kind = _MESSAGE_KINDS[msg_type]
        text, media_id = _message_fields(kind, root, extra)
        event = None
    elif msg_type == "event":
        kind = base.EVENT
        if event is None:
            raise XmlRejected("event without <Event>")
        handler = _EVENTS.get(event)
        if handler is not None:
            text = handler(root, event_key, extra)
        else:
            extra["fields"] = dict(root)
    else:
        kind = base.UNKNOWN
        extra["msg_type"] = msg_type
        extra["fields"] = dict(root)

    external_id = _external_id(root, sender, created, event or msg_type)
    return base.InboundMessage(
        channel=CHANNEL,
        account=account,
        sender=sender,
        kind=kind,
        text=text,
        external_id=external_id,
        sent_at=sent_at,
        event=event,
        event_key=event_key,
        media_id=media_id,
        extra=extra,
        raw=raw,
    )



def parse_message(xml_text: str, account: str) -> base.InboundMessage:
    """Parse and map one plaintext WeChat XML message (used by the webhook and the conformance bench)."""
    return to_inbound(parse_fields(xml_text), xml_text, account)
