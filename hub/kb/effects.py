"""What the FAQ bot's decisions change in the knowledge base: hit and unhelpful counts, and the questions
it could not answer, collected as proposals for operators."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session

from bots.base import Decision, Handoff, Reply
from bots.faq import SOURCE as FAQ
from hub.core.models import utcnow
from hub.kb.models import KbEntry, KbProposal


def apply_kb_effects(session: Session | Connection, message_id: int, text: str, decision: Decision) -> None:
    if isinstance(decision, Reply) and decision.source == FAQ and decision.meta.get("entry_id"):
        _bump(session, str(decision.meta["entry_id"]), hits=1)
    elif isinstance(decision, Handoff):
        if decision.meta.get("unhelpful_entry"):  # from the FAQ bot or a "转人工" right after its answer
            _bump(session, str(decision.meta["unhelpful_entry"]), unhelpful=1)
        if decision.source == FAQ and decision.meta.get("unanswered") and text.strip():
            exists = session.scalar(select(KbProposal.id).where(KbProposal.message_id == message_id))
            if exists is None:
                session.execute(insert(KbProposal).values(
                    question=text.strip()[:4000], answer="", message_id=message_id, status="open",
                    candidates=[dict(c) for c in decision.candidates], created_at=utcnow()))


def _bump(session: Session | Connection, external_id: str, hits: int = 0, unhelpful: int = 0) -> None:
    session.execute(
        update(KbEntry)
        .where(KbEntry.external_id == external_id)
        .values(hits=KbEntry.hits + hits, unhelpful=KbEntry.unhelpful + unhelpful)
    )
