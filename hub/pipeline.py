"""Deciding what to answer: the bots in their order, fed with what the hub knows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlmodel import Session, select

from bots.base import Bot, BotContext, Decision, decide
from bots.events import default_bot, menu_bot, welcome_bot
from bots.faq import faq_bot
from bots.keywords import keyword_bot
from channels.base import InboundMessage
from hub.models import OUT, Account, Identity, Message
from hub.rules import rulebook_for
from hub.state import HubState

# The explicit order of the bots: the first decision that is not None wins. Rules an operator wrote
# beat the knowledge base; the default reply only answers what nothing else did.
BOTS: tuple[Bot, ...] = (welcome_bot, menu_bot, keyword_bot, faq_bot, default_bot)


def bots_for(state: HubState) -> Sequence[Bot]:
    return state.extras.get("bots_override") or (*BOTS[:3], *state.extras.get("bots", ()), *BOTS[3:])


def _services(state: HubState) -> dict[str, Any]:
    # Providers register in extras["service_providers"]: name -> callable(state) -> service or None.
    providers: dict[str, Callable[[HubState], Any]] = state.extras.get("service_providers", {})
    return {name: service for name, provide in providers.items() if (service := provide(state)) is not None}


def last_answer(session: Session, message_id: int) -> dict[str, Any] | None:
    """The automatic answer this fan got just before `message_id` (for "没用" or "2" right after it)."""
    fan_id = session.scalar(select(Message.fan_id).where(Message.id == message_id))
    row = session.exec(
        select(Message).where(Message.fan_id == fan_id, Message.direction == OUT, Message.id < message_id)
        .order_by(Message.id.desc()).limit(1)  # type: ignore[union-attr]
    ).first()
    if row is None:
        return None
    return {"source": row.source, "meta": dict(row.meta or {}), "sent_at": row.sent_at, "text": row.text}


def decide_for(state: HubState, account_id: int, account_key: str, message: InboundMessage,
               message_id: int | None = None) -> Decision:
    previous = None
    if message_id is not None and not message.is_event:
        with Session(state.engine) as session:
            previous = last_answer(session, message_id)
    context = BotContext(
        account=account_key, rules=rulebook_for(state, account_id), last_answer=previous,
        services=_services(state),
    )
    return decide(bots_for(state), message, context)


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
