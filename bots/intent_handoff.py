"""Hand the fan to a person when the intent classifier says they asked for one ("转人工", "找客服") or that
they complain ("三天了还没发货，太差了"): a complaint is a person's job, and its ticket gets a higher priority."""

from __future__ import annotations

from datetime import UTC, datetime

from bots.base import BotContext, Decision, Handoff
from bots.faq import picks_offered_item, recent_faq_entry
from channels.base import InboundMessage

SOURCE = "intent"
HANDOFF_TEXT = "好的，正在为您转接人工客服，请稍候。"
COMPLAINT_TEXT = "非常抱歉给您带来不便，已为您转接人工客服，请稍候。"


def intent_handoff_bot(message: InboundMessage, context: BotContext) -> Decision:
    """Needs `context.services["intent_of"]` (InboundMessage -> intent label); without it, does nothing."""
    intent_of = context.services.get("intent_of")
    if intent_of is None or message.is_event or not message.text.strip():
        return None
    now = datetime.now(UTC)
    # A digit answering the bot's numbered list is a choice, whatever the classifier makes of it.
    if picks_offered_item(message.text, context.last_answer, now):
        return None
    intent = intent_of(message)
    if intent == "complaint":
        return Handoff(reason="the fan complained", source=SOURCE, text=COMPLAINT_TEXT)
    if intent != "human":
        return None
    # Asking for a person right after an automatic answer also says that answer did not help.
    answered = recent_faq_entry(context.last_answer, now)
    return Handoff(reason="the fan asked for a person", source=SOURCE, text=HANDOFF_TEXT,
                   meta={"unhelpful_entry": answered} if answered else {})
