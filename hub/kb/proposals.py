"""Operators' decisions on proposals, one or many at a time: similar questions learned from agents' answers
(accepting appends the question to its entry's `similar`) and new entries from questions the bot could not answer.
The caller asks for one index rebuild after a batch that changed an entry, not one per proposal."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from hub.core.models import User, utcnow
from hub.kb.entries import accept_proposal
from hub.kb.learning import known_question
from hub.kb.models import KbEntry, KbProposal, KbSimilarProposal

MAX_BATCH = 500
STATUSES = ("open", "accepted", "rejected")


def list_similar(session: Session, status: str = "open", limit: int = 100, offset: int = 0
                 ) -> tuple[list[dict[str, Any]], int]:
    """One page of proposed similar questions (newest first) with their entry and agent; and how many there are."""
    if status not in STATUSES:
        raise ValueError(f"status is one of {', '.join(STATUSES)}")
    rows = session.execute(
        select(KbSimilarProposal, KbEntry.external_id, KbEntry.question, User.email, User.display_name)
        .join(KbEntry, KbEntry.id == KbSimilarProposal.entry_id)
        .outerjoin(User, User.id == KbSimilarProposal.agent_id)
        .where(KbSimilarProposal.status == status)
        .order_by(KbSimilarProposal.id.desc()).limit(limit).offset(offset)
    ).all()
    total = session.scalar(select(func.count()).select_from(KbSimilarProposal)
                           .where(KbSimilarProposal.status == status)) or 0
    items = [{"id": p.id, "question": p.question, "entry_id": external_id, "entry_question": entry_question,
              "agent": email, "agent_name": name or email, "ticket_id": p.ticket_id, "message_id": p.message_id,
              "source": p.source, "status": p.status, "created_at": p.created_at}
             for p, external_id, entry_question, email, name in rows]
    return items, int(total)


def _batch(ids: Iterable[int]) -> list[int]:
    unique = sorted(set(ids))  # one order for every caller: two batches lock rows the same way round
    if not unique or len(unique) > MAX_BATCH:
        raise ValueError(f"give 1–{MAX_BATCH} proposal ids")
    return unique


def _open_similar(session: Session, ids: list[int]) -> tuple[list[KbSimilarProposal], list[dict[str, Any]]]:
    rows = {p.id: p for p in session.exec(select(KbSimilarProposal)
                                          .where(KbSimilarProposal.id.in_(ids))
                                          .order_by(KbSimilarProposal.id).with_for_update()).all()}
    found, skipped = [], []
    for proposal_id in ids:
        proposal = rows.get(proposal_id)
        if proposal is None:
            skipped.append({"id": proposal_id, "reason": f"no proposal {proposal_id}"})
        elif proposal.status != "open":
            skipped.append({"id": proposal_id, "reason": f"proposal {proposal_id} is {proposal.status} already"})
        else:
            found.append(proposal)
    return found, skipped


def accept_similar(session: Session, ids: Iterable[int], user_id: int | None) -> dict[str, Any]:
    """Append each open proposal's question to its entry's similar questions. {"accepted": [ids], "skipped":
    [{"id", "reason"}], "entries": [changed entry ids]}; a rebuild is due when "entries" is not empty."""
    proposals, skipped = _open_similar(session, _batch(ids))
    now, accepted, changed = utcnow(), [], []
    for proposal in proposals:
        entry = session.get(KbEntry, proposal.entry_id, with_for_update=True)
        if entry is None:  # entries are disabled, never deleted; kept for safety
            skipped.append({"id": proposal.id, "reason": "its entry no longer exists"})
            continue
        if not known_question(entry, proposal.question):
            entry.similar = [*(entry.similar or []), proposal.question]  # a new list: the JSON column sees it
            entry.updated_at = now
            session.add(entry)
            if entry.external_id not in changed:
                changed.append(entry.external_id)
        proposal.status, proposal.decided_by, proposal.decided_at = "accepted", user_id, now
        session.add(proposal)
        accepted.append(proposal.id)
    return {"accepted": accepted, "skipped": skipped, "entries": changed}


def reject_similar(session: Session, ids: Iterable[int], user_id: int | None) -> dict[str, Any]:
    """Reject each open proposal (the same question for the same entry is not proposed again)."""
    proposals, skipped = _open_similar(session, _batch(ids))
    now = utcnow()
    for proposal in proposals:
        proposal.status, proposal.decided_by, proposal.decided_at = "rejected", user_id, now
        session.add(proposal)
    return {"rejected": [p.id for p in proposals], "skipped": skipped}


def accept_new_entries(session: Session, ids: Iterable[int]) -> dict[str, Any]:
    """Accept each open new-entry proposal that has an answer, as accept_proposal does one by one.
    {"accepted": [{"id", "entry_id"}], "skipped": [{"id", "reason"}]}."""
    accepted, skipped = [], []
    for proposal_id in _batch(ids):
        nested = session.begin_nested()
        try:
            entry = accept_proposal(session, proposal_id)
            nested.commit()
        except (LookupError, ValueError) as exc:
            nested.rollback()
            skipped.append({"id": proposal_id, "reason": str(exc)})
            continue
        accepted.append({"id": proposal_id, "entry_id": entry.external_id})
    return {"accepted": accepted, "skipped": skipped}


def reject_new_entries(session: Session, ids: Iterable[int]) -> dict[str, Any]:
    wanted = _batch(ids)
    rows = {p.id: p for p in session.exec(select(KbProposal).where(
        KbProposal.id.in_(wanted)).with_for_update()).all()}
    rejected, skipped = [], []
    for proposal_id in wanted:
        proposal = rows.get(proposal_id)
        if proposal is None or proposal.status != "open":
            skipped.append({"id": proposal_id, "reason": f"no open proposal {proposal_id}"})
            continue
        proposal.status = "rejected"
        session.add(proposal)
        rejected.append(proposal_id)
    return {"rejected": rejected, "skipped": skipped}
