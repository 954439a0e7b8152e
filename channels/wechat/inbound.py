"""Turn a (decrypted) WeChat XML message or event into an InboundMessage.

Every MsgType and Event is kept: the types we know get typed fields in `extra`, anything else becomes
kind "unknown" (or kind "event" with its name) with all its fields in `extra["fields"]`. The mapping works
on the flattened message (path -> text), so it does not depend on the wire format.
"""

from __future__ import annotations

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


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


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
        _put(extra, "latitude", _float(_get(root, "Location_X")))
        _put(extra, "longitude", _float(_get(root, "Location_Y")))
        _put(extra, "scale", _int(_get(root, "Scale")))
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
    _put(extra, "latitude", _float(_get(root, "Latitude")))
    _put(extra, "longitude", _float(_get(root, "Longitude")))
    _put(extra, "precision", _float(_get(root, "Precision")))
    return ""


def _job_finish(root: Fields, key: str | None, extra: dict[str, Any]) -> str:
    _put(extra, "status", _get(root, "Status"))
    for tag, name in (
        ("TotalCount", "total_count"),
        ("FilterCount", "filter_count"),
        ("SentCount", "sent_count"),
        ("ErrorCount", "error_count"),
    ):
        _put(extra, name, _int(_get(root, tag)))
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


def _required(root: Fields, tag: str) -> str:
    value = _get(root, tag)
    if not value:
        raise XmlRejected(f"missing <{tag}>")
    return value


def to_inbound(root: Fields, raw: str, account: str) -> base.InboundMessage:
    """Map a parsed <xml> message to an InboundMessage; XmlRejected if a required field is missing."""
    sender = _required(root, "FromUserName")
    msg_type = _required(root, "MsgType").lower()
    created = _int(_required(root, "CreateTime"))
    if created is None or not 0 <= created < 2**40:
        raise XmlRejected("CreateTime is not a Unix timestamp")
    sent_at = datetime.fromtimestamp(created, tz=UTC)

    extra: dict[str, Any] = {}
    _put(extra, "to_user", _get(root, "ToUserName"))
    event_name = _get(root, "Event")
    event = event_name.lower() if event_name else None
    event_key = _get(root, "EventKey")
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

    # MsgId for messages, MsgID for mass/template job events; otherwise sender:time:event (or type).
    msg_id = _get(root, "MsgId") or _get(root, "MsgID")
    external_id = msg_id or f"{sender}:{created}:{event or msg_type}"
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
