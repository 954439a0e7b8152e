"""Deciding what to answer: the bots in their order, fed with what the hub knows."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from bots.base import Bot, BotContext, Decision, decide
from bots.events import default_bot, menu_bot, welcome_bot
from bots.faq import faq_bot
from bots.intent_handoff import intent_handoff_bot
from bots.keywords import keyword_bot
from channels.base import InboundMessage
from hub.conversation.rules import rulebook_for
from hub.core.models import OUT, Account, Identity, Message
from hub.core.state import HubState
from hub.kb import kb_service, scoped
from hub.tags import intent_service
from hub.tickets import holds_fan

# The explicit order of the bots: the first decision that is not None wins. Rules an operator wrote
# beat the knowledge base; the default reply only answers what nothing else did.
STANDARD_BOTS: tuple[Bot, ...] = (welcome_bot, menu_bot, keyword_bot, intent_handoff_bot, faq_bot, default_bot)
BOTS = STANDARD_BOTS


# The first bots only read the account's rules (microseconds): the webhook runs them inline. The rest may
# consult models and the database, so the webhook runs them under its time budget.
RULE_BOTS = 3


def _services(state: HubState, account_id: int) -> dict[str, Any]:
    """What the bots after the rules may consult, as far as this process has it loaded: the knowledge base as
    far as this account answers from it (hub.kb.scope)."""
    services = {"kb": scoped(state, kb_service(state), account_id), "intent_of": intent_service(state)}
    return {name: service for name, service in services.items() if service is not None}


def last_answer(session: Session, fan_id: int, before_id: int | None = None) -> dict[str, Any] | None:
    """The automatic answer this fan got last (before `before_id`), for "没用" or "2" right after it."""
    query = select(Message).where(Message.fan_id == fan_id, Message.direction == OUT)
    if before_id is not None:
        query = query.where(Message.id < before_id)
    row = session.exec(query.order_by(Message.id.desc()).limit(1)).first()  # type: ignore[union-attr]
    if row is None:
        return None
    return {"source": row.source, "meta": dict(row.meta or {}), "sent_at": row.sent_at, "text": row.text}


def decide_by_rules(state: HubState, account_id: int, account_key: str, message: InboundMessage) -> Decision:
    context = BotContext(account=account_key, rules=rulebook_for(state, account_id))
    return decide(BOTS[:RULE_BOTS], message, context)


def rest_may_reply(state: HubState, account_id: int) -> bool:
    """Whether the bots after the rules could give a passive reply at all: only the FAQ bot (with a
    knowledge base) and the default rule reply; the others hand off, which is the worker's business.
    Without either, the webhook skips classifying the message (the worker still does, for tags)."""
    if BOTS is not STANDARD_BOTS:  # bots installed in their place (tests) may answer anything
        return True
    return rulebook_for(state, account_id).default is not None or kb_service(state) is not None


def decide_by_rest(state: HubState, account_id: int, account_key: str, message: InboundMessage, fan_id: int,
                   before_id: int | None = None) -> Decision:
    previous = None
    if not message.is_event and message.text.strip():
        with Session(state.engine) as session:
            previous = last_answer(session, fan_id, before_id)
    context = BotContext(account=account_key, rules=rulebook_for(state, account_id), last_answer=previous,
                         services=_services(state, account_id))
    return decide(BOTS[RULE_BOTS:], message, context)


def decide_for(state: HubState, account_id: int, account_key: str, message: InboundMessage, fan_id: int,
               before_id: int | None = None) -> Decision:
    """All bots in order (the worker's view): the same decision the webhook would have made."""
    return decide_by_rules(state, account_id, account_key, message) or decide_by_rest(
        state, account_id, account_key, message, fan_id, before_id)


def person_holds(state: HubState, account_id: int, fan_id: int) -> bool:
    """Whether a person handles this fan (hub.tickets.holds_fan): then no bot answers their messages."""
    with Session(state.engine) as session:
        return holds_fan(session, state.config, account_id, fan_id)


def inbound_from_row(message: Message, account: Account, identity: Identity) -> InboundMessage:
    """Rebuild the normalised message from its stored row (the worker's view of it)."""
    return InboundMessage(
        channel=account.channel,
        account=account.key,
        sender=identity.external_id,
        kind=message.kind,
        text=message.text,
        external_id=message.external_id or "",
        sent_at=message.sent_at,
        event=message.event,
        event_key=message.event_key,
        media_id=(message.meta or {}).get("media_id"),
        extra=dict(message.meta or {}),
        raw=message.raw,
    )
