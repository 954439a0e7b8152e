"""What a bot is: `(message, context) -> Reply | Handoff | None`, run in an explicit order.

Bots decide; they never send, store or import the hub. Everything they need arrives in `BotContext`
as plain data that the hub loaded for them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from channels.base import InboundMessage


@dataclass(frozen=True, slots=True)
class Reply:
    """Answer the fan with `text`. `source` names the bot; `meta` says why (rule id, KB entry, score)."""

    text: str
    source: str
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Handoff:
    """Hand the fan to a person. `candidates` are what the bot considered, for the agent to see."""

    reason: str
    source: str
    text: str = ""  # optional message for the fan ("正在为您转接人工客服")
    candidates: Sequence[Mapping[str, Any]] = ()
    kf_account: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


Decision = Reply | Handoff | None

# Match modes of a keyword rule.
EXACT = "exact"
CONTAINS = "contains"
REGEX = "regex"
MATCH_MODES = (EXACT, CONTAINS, REGEX)


@dataclass(frozen=True, slots=True)
class KeywordRule:
    id: int
    pattern: str
    match: str
    reply: str
    priority: int = 0


@dataclass(frozen=True, slots=True)
class RuleBook:
    """The auto-reply rules of one account, as WeChat's own console would have had them."""

    keywords: Sequence[KeywordRule] = ()
    welcome: str | None = None
    welcome_by_scene: Mapping[str, str] = field(default_factory=dict)
    menu: Mapping[str, str] = field(default_factory=dict)  # CLICK event key -> reply text
    default: str | None = None


@dataclass(frozen=True, slots=True)
class BotContext:
    """What the hub knows that a bot may use to decide."""

    account: str
    rules: RuleBook = field(default_factory=RuleBook)
    # The last automatic answer this fan got recently, so a bot can notice "没用" right after it.
    last_answer: Mapping[str, Any] | None = None
    # Optional services the hub wires in (a knowledge-base searcher, a classifier, ...).
    services: Mapping[str, Any] = field(default_factory=dict)


Bot = Callable[[InboundMessage, BotContext], Decision]


def decide(bots: Sequence[Bot], message: InboundMessage, context: BotContext) -> Decision:
    """Run `bots` in order; the first decision that is not None wins. Exceptions propagate."""
    for bot in bots:
        decision = bot(message, context)
        if decision is not None:
            return decision
    return None
