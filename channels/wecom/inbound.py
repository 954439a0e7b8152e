"""Turn a decrypted WeCom (企业微信) callback message into an InboundMessage.

A WeCom self-built app's callback carries the same XML as an Official Account's (ToUserName is the CorpID,
FromUserName the member's UserID, plus AgentID), so the field mapping and its validation are the WeChat
channel's (`channels.wechat.inbound.to_inbound`: MsgId, CreateTime, coordinates, ...); what differs is kept
here: the channel name, the AgentID, and WeCom's own events (enter_agent, batch_job_result, change_contact,
...), which keep their name and fields.

Messages: text, image, voice, video, location, link. Events: subscribe / unsubscribe (the member follows or
leaves the app), enter_agent (opens the app), click, view, location and any other as kind "event".
"""

from __future__ import annotations

import re
from typing import Any

from channels import base
from channels.wechat.inbound import to_inbound
from channels.wechat.xmlsafe import XmlRejected, parse_fields

CHANNEL = "wecom"
_AGENT_ID = re.compile(r"[0-9]{1,12}")
# Events of WeCom that need no fields of their own: what the member did is the event's name.
_PLAIN_EVENTS = frozenset({"enter_agent", "subscribe", "unsubscribe"})


def agent_id_of(fields: dict[str, str]) -> str | None:
    """The AgentID a message names (digits), None when it has none; XmlRejected when it is not a number."""
    value = (fields.get("AgentID") or "").strip()
    if not value:
        return None
    if not _AGENT_ID.fullmatch(value):
        raise XmlRejected("<AgentID> is not a whole number")
    return value


def to_wecom_inbound(fields: dict[str, str], raw: str, account: str) -> base.InboundMessage:
    """Map the flattened message to an InboundMessage of channel "wecom"."""
    message = to_inbound(fields, raw, account)
    extra: dict[str, Any] = dict(message.extra)
    extra.pop("to_user", None)
    extra["corp_id"] = (fields.get("ToUserName") or "").strip()
    agent_id = agent_id_of(fields)
    if agent_id is not None:
        extra["agent_id"] = int(agent_id)
    if message.event in _PLAIN_EVENTS:
        extra.pop("fields", None)  # the WeChat mapping keeps unknown events' fields; these have none worth it
    # Built field by field: dataclasses.replace() costs several times as much on this hot path.
    return base.InboundMessage(
        channel=CHANNEL, account=message.account, sender=message.sender, kind=message.kind, text=message.text,
        external_id=message.external_id, sent_at=message.sent_at, event=message.event, event_key=message.event_key,
        media_id=message.media_id, extra=extra, raw=message.raw,
    )


def parse_message(xml_text: str, account: str) -> base.InboundMessage:
    """Parse and map one decrypted WeCom XML message (used by the webhook and the conformance bench)."""
    return to_wecom_inbound(parse_fields(xml_text), xml_text, account)
