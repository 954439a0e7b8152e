"""What the FAQ bot's decisions change in the knowledge base: hit and unhelpful counts, and the questions
it could not answer, collected as proposals for operators."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import Session, select

from bots.base import Decision, Handoff, Reply
from bots.faq import SOURCE as FAQ
from hub.models import KbEntry, KbProposal


def apply(session: Session, message_id: int, text: str, decision: Decision) -> None:
    if isinstance(decision, Reply) and decision.source == FAQ and decision.meta.get("entry_id"):
        _bump(session, str(decision.meta["entry_id"]), hits=1)
    elif isinstance(decision, Handoff):
        if decision.meta.get("unhelpful_entry"):  # from the FAQ bot or a "转人工" right after its answer
            _bump(session, str(decision.meta["unhelpful_entry"]), unhelpful=1)
        if decision.source == FAQ and decision.meta.get("unanswered") and text.strip():
            exists = session.exec(select(KbProposal.id).where(KbProposal.message_id == message_id)).first()
            if exists is None:
                session.add(KbProposal(question=text.strip()[:4000], message_id=message_id,
                                       candidates=[dict(c) for c in decision.candidates]))


def _bump(session: Session, external_id: str, hits: int = 0, unhelpful: int = 0) -> None:
    session.execute(
        update(KbEntry)
        .where(KbEntry.external_id == external_id)
        .values(hits=KbEntry.hits + hits, unhelpful=KbEntry.unhelpful + unhelpful)
    )
