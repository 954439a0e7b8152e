"""Handing a fan to a person: open a ticket (or join the fan's active one) with the team and priority the
rules give it, and tell the fan. The ticket is routed to an agent once the transaction commits."""

from __future__ import annotations

from sqlmodel import Session

from bots.base import Handoff
from hub.core.config import Config
from hub.core.models import Message, as_utc
from hub.core.state import get_state
from hub.kb import candidates_for, handoff_question, kb_service
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
    question = handoff_question(session, message.id)
    opening = Opening(  # the subject is the fan's question, not the "都不是" or "转人工" that followed it
        account_id=message.account_id, fan_id=message.fan_id, channel=channel, message_id=message.id,
        text=question[1] if question else message.text, intent=intent, reason=decision.reason,
        candidates=_candidates(session, message, decision, question),
        priority=priority_for(intent, tags, config.vip_tags.split(",")),
        team_id=team_for(session, intent, tags, message.account_id),
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


def _candidates(session: Session, message: Message, decision: Handoff,
                question: tuple[int, str] | None) -> list[dict]:
    """The knowledge-base candidates for the fan's question: the FAQ bot's own when the message is the question;
    when it is a follow-up ("没用", "转人工"), those of the question before it (none if there is no such question);
    for a hand-off that came with none (a complaint, a request for a person), those of its question."""
    if question is None:
        return []
    if question[0] == message.id and decision.candidates:
        return [dict(c) for c in decision.candidates]
    kb = kb_service(get_state())
    if kb is None:
        return []
    return candidates_for(kb, question[1], unhelpful=decision.meta.get("unhelpful_entry"))
