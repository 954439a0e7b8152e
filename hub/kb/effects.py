"""What the FAQ bot's decisions change in the knowledge base: hit and unhelpful counts, and the questions
it could not answer (the fan's question, also when the hand-off came from a follow-up), collected as proposals
for operators."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session

from bots.base import Decision, Handoff, Reply
from bots.faq import SOURCE as FAQ
from hub.core.models import utcnow
from hub.kb.learning import handoff_question
from hub.kb.models import KbEntry, KbProposal


def apply_kb_effects(session: Session | Connection, message_id: int, text: str, decision: Decision) -> None:
    if isinstance(decision, Reply) and decision.source == FAQ and decision.meta.get("entry_id"):
        _bump(session, str(decision.meta["entry_id"]), hits=1)
    elif isinstance(decision, Handoff):
        if decision.meta.get("unhelpful_entry"):  # from the FAQ bot or a "转人工" right after its answer
            _bump(session, str(decision.meta["unhelpful_entry"]), unhelpful=1)
        if decision.source == FAQ and decision.meta.get("unanswered") and text.strip():
            _propose_entry(session, message_id, decision)


def _propose_entry(session: Session | Connection, message_id: int, decision: Handoff) -> None:
    """The question the bot could not answer, as a proposal for a new entry: the fan's question, not a follow-up
    such as "没用" after a "您是想问…" list (then its candidates were matched to "没用", so none are kept)."""
    question = handoff_question(session, message_id)
    if question is None:
        return
    question_id, question_text = question
    exists = session.scalar(select(KbProposal.id).where(KbProposal.message_id == question_id))
    if exists is None:
        candidates = [dict(c) for c in decision.candidates] if question_id == message_id else []
        session.execute(insert(KbProposal).values(
            question=question_text[:4000], answer="", message_id=question_id, status="open",
            candidates=candidates, created_at=utcnow()))


def _bump(session: Session | Connection, external_id: str, hits: int = 0, unhelpful: int = 0) -> None:
    session.execute(
        update(KbEntry)
        .where(KbEntry.external_id == external_id)
        .values(hits=KbEntry.hits + hits, unhelpful=KbEntry.unhelpful + unhelpful)
    )
