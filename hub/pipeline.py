"""Deciding what to answer: the bots in their order, fed with what the hub knows."""

from __future__ import annotations

from collections.abc import Sequence

from bots.base import Bot, BotContext, Decision, decide
from bots.events import default_bot, menu_bot, welcome_bot
from bots.keywords import keyword_bot
from channels.base import InboundMessage
from hub.models import Account, Identity, Message
from hub.rules import rulebook_for
from hub.state import HubState

# The explicit order of the bots: the first decision that is not None wins.
BASE_BOTS: tuple[Bot, ...] = (welcome_bot, menu_bot, keyword_bot)
LAST_BOTS: tuple[Bot, ...] = (default_bot,)


def bots_for(state: HubState) -> Sequence[Bot]:
    # Capabilities that need loaded models (the FAQ bot, handoff detection) register in extras["bots"].
    return (*BASE_BOTS, *state.extras.get("bots", ()), *LAST_BOTS)


def context_for(state: HubState, account_id: int, account_key: str) -> BotContext:
    return BotContext(
        account=account_key,
        rules=rulebook_for(state, account_id),
        services=state.extras.get("services", {}),
    )


def decide_for(state: HubState, account_id: int, account_key: str, message: InboundMessage) -> Decision:
    return decide(bots_for(state), message, context_for(state, account_id, account_key))


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
