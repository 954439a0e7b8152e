"""The knowledge base in the database: import, export, entries as the retriever sees them, proposals."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlmodel import Session, select

from hub.core.models import utcnow
from hub.kb.files import EntryRow
from hub.kb.models import KbEntry, KbProposal, KbTerm


def _generated_id(question: str) -> str:
    return "q-" + hashlib.sha1(question.encode(), usedforsecurity=False).hexdigest()[:12]


def import_rows(session: Session, rows: list[EntryRow], replace: bool = False) -> dict[str, int]:
    """Upsert entries by id (generated from the question when absent); with `replace`, entries not in
    the file are disabled. Runs in the caller's transaction, so a failure leaves nothing half imported."""
    existing = {e.external_id: e for e in session.exec(select(KbEntry)).all()}
    created = updated = 0
    seen: set[str] = set()
    now = utcnow()
    for row in rows:
        key = row.id or _generated_id(row.question)
        seen.add(key)
        entry = existing.get(key)
        if entry is None:
            entry = KbEntry(external_id=key, question=row.question, answer=row.answer, created_at=now)
            created += 1
        else:
            updated += 1
        entry.question, entry.answer, entry.similar = row.question, row.answer, row.similar
        entry.category, entry.link_url, entry.enabled, entry.updated_at = (
            row.category, row.link_url, row.enabled, now,
        )
        session.add(entry)
    disabled = 0
    if replace:
        for key, entry in existing.items():
            if key not in seen and entry.enabled:
                entry.enabled = False
                entry.updated_at = now
                session.add(entry)
                disabled += 1
    return {"created": created, "updated": updated, "disabled": disabled}


def export_rows(session: Session) -> list[dict[str, Any]]:
    return [
        {
            "id": e.external_id, "question": e.question, "similar": list(e.similar or []), "answer": e.answer,
            "category": e.category, "link_url": e.link_url, "enabled": e.enabled,
            "hits": e.hits, "unhelpful": e.unhelpful,
        }
        for e in session.exec(select(KbEntry).order_by(KbEntry.id)).all()
    ]


def retriever_entries(session: Session) -> list[dict[str, Any]]:
    rows = session.exec(select(KbEntry).where(KbEntry.enabled == True)).all()  # noqa: E712 - SQL, not Python
    return [{"id": e.external_id, "question": e.question, "similar": list(e.similar or []), "answer": e.answer}
            for e in rows]


def terms(session: Session) -> tuple[list[str], dict[str, str]]:
    """The user dictionary and the synonym map (term → what it means) for the tokenizer."""
    user_terms, synonyms = [], {}
    for row in session.exec(select(KbTerm)).all():
        user_terms.append(row.term)
        if row.means:
            synonyms[row.term] = row.means
            user_terms.append(row.means)
    return user_terms, synonyms


def accept_proposal(session: Session, proposal_id: int, question: str | None = None,
                    answer: str | None = None) -> KbEntry:
    proposal = session.get(KbProposal, proposal_id)
    if proposal is None or proposal.status != "open":
        raise LookupError(f"no open proposal {proposal_id}")
    text = (answer or proposal.answer).strip()
    if not text:
        raise ValueError("the proposal has no answer yet: give one")
    entry = KbEntry(external_id=f"p-{proposal.id}", question=(question or proposal.question).strip()[:4000],
                    answer=text)
    proposal.status = "accepted"
    session.add(entry)
    session.add(proposal)
    session.flush()
    return entry


def search_entries(session: Session, query: str = "", limit: int = 50, offset: int = 0,
                   enabled: bool | None = None) -> tuple[list[KbEntry], int]:
    """One page of entries whose question, paraphrases, answer, category or id contain `query` (newest changes
    first), and how many match in all."""
    import json

    from sqlalchemy import String, cast, func, or_

    conditions = []
    needle = query.strip().lower()
    if needle:
        conditions.append(or_(*(func.lower(column).contains(needle, autoescape=True) for column in (
            KbEntry.question, KbEntry.answer, KbEntry.category, KbEntry.external_id,  # type: ignore[arg-type]
            cast(KbEntry.similar, String)))))
        escaped = json.dumps(needle)[1:-1].lower()  # paraphrases are stored as JSON text, non-ASCII as \uXXXX
        if escaped != needle:
            conditions[-1] = or_(conditions[-1], func.lower(cast(KbEntry.similar, String)).contains(
                escaped, autoescape=True))
    if enabled is not None:
        conditions.append(KbEntry.enabled == enabled)
    total = session.exec(select(func.count()).select_from(KbEntry).where(*conditions)).one()
    rows = session.exec(select(KbEntry).where(*conditions).order_by(KbEntry.updated_at.desc(),  # type: ignore[attr-defined]
                                                                    KbEntry.id.desc())  # type: ignore[union-attr]
                        .offset(offset).limit(limit)).all()
    return list(rows), int(total)


def open_proposals(session: Session, limit: int = 100) -> list[KbProposal]:
    """Questions the bot could not answer, still open, answered ones (an agent's reply) first, newest first."""
    rows = session.exec(select(KbProposal).where(KbProposal.status == "open")
                        .order_by(KbProposal.id.desc()).limit(limit)).all()  # type: ignore[union-attr]
    return sorted(rows, key=lambda p: (not p.answer, -(p.id or 0)))
