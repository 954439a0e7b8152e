"""Passive replies: the XML body WeChat expects in the webhook's HTTP response.

wechatpy's TransferCustomerServiceReply cannot name a KfAccount, so both reply kinds are rendered here.
"""

from __future__ import annotations

from collections.abc import Callable

from channels.base import OUT_TEXT, OUT_TRANSFER, InboundMessage, OutboundMessage

# (reply, the message it answers, unix time) -> plaintext reply XML, or None to answer "success".
ReplyEncoder = Callable[[OutboundMessage, InboundMessage, int], str | None]


def cdata(text: str) -> str:
    """A CDATA section holding `text`; a "]]>" inside is split across two sections."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _header(reply: OutboundMessage, inbound: InboundMessage, now: int, msg_type: str) -> list[str]:
    # The reply goes from the account (the ToUserName WeChat sent us) to the fan.
    account_id = str(inbound.extra.get("to_user", ""))
    return [
        f"<ToUserName>{cdata(reply.recipient or inbound.sender)}</ToUserName>",
        f"<FromUserName>{cdata(account_id)}</FromUserName>",
        f"<CreateTime>{int(now)}</CreateTime>",
        f"<MsgType>{cdata(msg_type)}</MsgType>",
    ]


def render_reply(reply: OutboundMessage, inbound: InboundMessage, now: int) -> str | None:
    """The plaintext XML of a passive reply; None when there is nothing to send (empty text)."""
    if reply.kind == OUT_TEXT:
        if not reply.text:
            return None  # WeChat shows the fan an error for an empty Content
        nodes = _header(reply, inbound, now, "text")
        nodes.append(f"<Content>{cdata(reply.text)}</Content>")
    elif reply.kind == OUT_TRANSFER:
        nodes = _header(reply, inbound, now, "transfer_customer_service")
        if reply.kf_account:
            nodes.append(f"<TransInfo><KfAccount>{cdata(reply.kf_account)}</KfAccount></TransInfo>")
    else:
        raise ValueError(f"cannot render a passive reply of kind {reply.kind!r}")
    return "<xml>\n" + "\n".join(nodes) + "\n</xml>"
