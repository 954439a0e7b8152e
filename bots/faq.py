"""The FAQ bot: answer from the knowledge base when confident, offer "您是想问…" when unsure, hand off
otherwise — and notice when a fan says the last answer did not help."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bots.base import BotContext, Decision, Handoff, Reply
from channels.base import InboundMessage

SOURCE = "faq"
FEEDBACK_WINDOW = timedelta(minutes=10)
HANDOFF_TEXT = "这个问题我需要请人工客服来回答，已为您转接，请稍候。"
UNHELPFUL_TEXT = "抱歉没能帮到您，已为您转接人工客服，请稍候。"
# Short replies right after an answer that mean "that did not help" or "give me a person".
_UNHELPFUL = re.compile(
    r"^(没用|没有用|不对|不是|都不是|都不对|答非所问|没帮助|没有帮助|看不懂|不行|还是不行|人工|转人工|人工客服|找人工)[!！。.?？]*$"
)
# A number from the "您是想问…" list: "2", " 2 ", full-width "２", "②", "2." or "2、".
_CHOICE = re.compile(r"^\s*([1-9])\s*[.。、)）]?\s*$")
# Intents that are not questions for the knowledge base (see the intent classifier).
_NOT_FOR_KB = {"chitchat"}


class KnowledgeBase(Protocol):
    """What the hub hands the bot as `context.services["kb"]`."""

    def decide(self, text: str) -> Any: ...  # knowledge.retriever.Decision

    def entry(self, entry_id: str) -> Mapping[str, Any] | None: ...  # {"question", "answer", "link_url"}


def _recent(last: Mapping[str, Any] | None, now: datetime) -> Mapping[str, Any] | None:
    if not last or last.get("source") != SOURCE:
        return None
    at = last.get("sent_at")
    return last if isinstance(at, datetime) and now - at <= FEEDBACK_WINDOW else None


def recent_faq_entry(last: Mapping[str, Any] | None, now: datetime) -> str | None:
    """The knowledge-base entry of the FAQ answer the fan got within the feedback window, if any."""
    recent = _recent(last, now)
    entry = (recent.get("meta") or {}).get("entry_id") if recent else None
    return str(entry) if entry else None


def picks_offered_item(text: str, last: Mapping[str, Any] | None, now: datetime) -> bool:
    """Whether `text` ("2", "２", "2.") picks an item of the numbered list the bot offered just before."""
    recent = _recent(last, now)
    suggestions = ((recent or {}).get("meta") or {}).get("suggestions") or []
    choice = _CHOICE.match(unicodedata.normalize("NFKC", text))
    return bool(choice) and int(choice.group(1)) <= len(suggestions)


def _candidates(kb: KnowledgeBase, hits: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for hit in hits:
        entry = kb.entry(hit.entry_id) or {}
        out.append({"entry_id": hit.entry_id, "question": entry.get("question", hit.matched),
                    "confidence": round(float(hit.confidence), 3)})
    return out


def _answer(kb: KnowledgeBase, entry_id: str, confidence: float) -> Reply | None:
    entry = kb.entry(entry_id)
    if not entry:
        return None
    text = entry["answer"] + (f"\n{entry['link_url']}" if entry.get("link_url") else "")
    return Reply(text, SOURCE, {"entry_id": entry_id, "confidence": round(confidence, 3)})


def faq_bot(message: InboundMessage, context: BotContext) -> Decision:
    kb: KnowledgeBase | None = context.services.get("kb")
    text = message.text.strip()
    if kb is None or message.is_event or not text:
        return None
    last = _recent(context.last_answer, datetime.now(UTC))
    if last:
        meta = last.get("meta") or {}
        choice = _CHOICE.match(unicodedata.normalize("NFKC", text))
        suggestions = meta.get("suggestions") or []
        if choice and int(choice.group(1)) <= len(suggestions):
            return _answer(kb, str(suggestions[int(choice.group(1)) - 1]), 1.0)
        if meta.get("entry_id") and _UNHELPFUL.match(text):
            return Handoff("the fan said the answer did not help", SOURCE, UNHELPFUL_TEXT,
                           meta={"unhelpful_entry": meta["entry_id"]})
        if suggestions and _UNHELPFUL.match(text):  # none of the offered questions was the fan's
            return Handoff("the fan declined the offered questions", SOURCE, UNHELPFUL_TEXT,
                           meta={"unanswered": True})
    # "没用" or a bare "2" with no answer or list of ours before it (or none stored yet, as the webhook may see
    # it): not a question to search the knowledge base for — the worker, which sees what came before, decides.
    if _UNHELPFUL.match(text) or _CHOICE.match(unicodedata.normalize("NFKC", text)):
        return Handoff("a follow-up with no answer of the bot's before it", SOURCE, HANDOFF_TEXT)
    if context.services.get("intent_of", lambda _m: None)(message) in _NOT_FOR_KB:
        return None
    decision = kb.decide(text)
    if decision.action == "answer":
        return _answer(kb, decision.hits[0].entry_id, decision.hits[0].confidence)
    candidates = _candidates(kb, decision.hits)
    if decision.action == "suggest":
        lines = [f"{i}. {c['question']}" for i, c in enumerate(candidates, start=1)]
        return Reply("您是想问：\n" + "\n".join(lines) + "\n回复序号查看答案，或换个说法。", SOURCE,
                     {"suggestions": [c["entry_id"] for c in candidates]})
    return Handoff("the knowledge base has no confident answer", SOURCE, HANDOFF_TEXT, candidates=candidates,
                   meta={"unanswered": True})
