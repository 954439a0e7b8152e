"""Handing a fan to a person: open a ticket (or join the fan's active one) with the team and priority the
rules give it, and tell the fan. The ticket is routed to an agent once the transaction commits."""

from __future__ import annotations

from sqlmodel import Session

from bots.base import Handoff
from hub.core.config import Config
from hub.core.models import Message, as_utc
from hub.outbound import record_outbound
from hub.tags import interests_of
from hub.tickets import Effects, Opening, open_or_join, priority_for, team_for
from hub.tickets.lifecycle import link_message


def open_ticket(session: Session, config: Config, message: Message, channel: str, decision: Handoff,
                fx: Effects) -> list[int]:
    """Returns the ids of outbound messages to send (the note to the fan, if the bot gave one)."""
    intent = (message.meta or {}).get("intent")
    profile = interests_of(session, message.fan_id)
    tags = [view["tag"] for view in sorted(profile["tags"], key=lambda view: -view["score"])]
    opening = Opening(
        account_id=message.account_id, fan_id=message.fan_id, channel=channel, message_id=message.id,
        text=message.text, intent=intent, reason=decision.reason, candidates=[dict(c) for c in decision.candidates],
        priority=priority_for(intent, tags, config.vip_tags.split(",")), team_id=team_for(session, intent, tags),
        source="bot", fan_message_at=as_utc(message.sent_at),
    )
    ticket, _ = open_or_join(session, config, opening, fx)
    message.meta = {**(message.meta or {}), "ticket_id": ticket.id}
    if not decision.text:
        return []
    notice = record_outbound(session, message, message.id, decision.text, source=decision.source, via="api",
                             meta={"ticket_id": ticket.id})
    link_message(session, ticket.id, notice)  # the hand-off notice is part of the ticket's conversation
    return [notice]
