"""The "asks for a person" bot: hands off on the intent, but never takes a numbered-list choice for that."""

from __future__ import annotations

from datetime import UTC, datetime

from bots.base import BotContext, Handoff
from bots.faq import SOURCE as FAQ
from bots.intent_handoff import intent_handoff_bot
from channels.base import InboundMessage


def _message(text: str) -> InboundMessage:
    return InboundMessage(channel="wechat", account="brand", sender="fan", kind="text", text=text,
                          external_id="1", sent_at=datetime.now(UTC))


def _context(last_answer: dict | None) -> BotContext:
    # A classifier that hears "a person, please" in everything: the worst case for a digit.
    return BotContext(account="brand", last_answer=last_answer, services={"intent_of": lambda _m: "human"})


LIST = {"source": FAQ, "sent_at": datetime.now(UTC), "meta": {"suggestions": ["a", "b"]}, "text": "您是想问…"}


def test_a_digit_answering_the_offered_list_is_not_a_handoff() -> None:
    for text in ("1", "2", "２", "2.", "2、"):
        assert intent_handoff_bot(_message(text), _context(LIST)) is None


def test_a_digit_past_the_list_or_without_a_list_follows_the_intent() -> None:
    assert isinstance(intent_handoff_bot(_message("3"), _context(LIST)), Handoff)
    assert isinstance(intent_handoff_bot(_message("2"), _context(None)), Handoff)
    assert isinstance(intent_handoff_bot(_message("转人工"), _context(LIST)), Handoff)


def test_a_complaint_goes_to_a_person() -> None:
    context = BotContext(account="brand", services={"intent_of": lambda _m: "complaint"})
    decision = intent_handoff_bot(_message("三天了还没发货，太差了"), context)
    assert isinstance(decision, Handoff) and decision.reason == "the fan complained"
    chat = BotContext(account="brand", services={"intent_of": lambda _m: "chitchat"})
    assert intent_handoff_bot(_message("哈哈"), chat) is None
