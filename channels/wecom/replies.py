"""Passive replies of a WeCom app: the plaintext XML that the webhook encrypts into its HTTP response.

WeCom takes a text reply to a member's message or event within its 5-second wait; anything else the hub may
want (WeChat's transfer to customer service) has no WeCom equivalent and is answered with an empty body.
"""

from __future__ import annotations

from channels.base import OUT_TEXT, InboundMessage, OutboundMessage
from channels.wechat.replies import cdata


def render_reply(reply: OutboundMessage, inbound: InboundMessage, now: int) -> str | None:
    """The plaintext XML of a text reply from the app (FromUserName: the CorpID) to the member; None for
    nothing to send (empty text, or a kind WeCom has no passive reply for)."""
    if reply.kind != OUT_TEXT or not reply.text:
        return None
    nodes = [
        f"<ToUserName>{cdata(reply.recipient or inbound.sender)}</ToUserName>",
        f"<FromUserName>{cdata(str(inbound.extra.get('corp_id', '')))}</FromUserName>",
        f"<CreateTime>{int(now)}</CreateTime>",
        f"<MsgType>{cdata('text')}</MsgType>",
        f"<Content>{cdata(reply.text)}</Content>",
    ]
    return "<xml>\n" + "\n".join(nodes) + "\n</xml>"
