"""Learning from agents (issue 23): the knowledge-base entry an agent chose for a hand-off's question, and the
operators' decisions on proposals in bulk (proposed similar questions, and new entries from unanswered questions)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import jsonify
from flask_login import current_user
from pydantic import BaseModel, Field, StringConstraints
from sqlmodel import Session

from hub.core.db import session_scope
from hub.kb import (
    accept_new_entries,
    accept_similar,
    entry_by_external_id,
    list_similar,
    propose_similar,
    reject_new_entries,
    reject_similar,
    request_rebuild,
    ticket_question,
)
from hub.tickets import Ticket, TicketError, check_permission
from hub.web.api.base import Body, ErrorOut, Response, bp, endpoint, error, state


class KbAnswerIn(Body):
    kb_entry_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


class KbAnswerOut(BaseModel):
    entry_id: str
    proposal_id: int | None
    question: str | None
    status: str  # proposed | known (the entry has this question already) | no_question


class SimilarProposalsQuery(BaseModel):
    status: Literal["open", "accepted", "rejected"] = "open"
    limit: int = Field(default=100, ge=1, le=500)
    offset: int = Field(default=0, ge=0)


class SimilarProposalOut(BaseModel):
    id: int
    question: str
    entry_id: str
    entry_question: str
    agent: str | None
    ticket_id: int | None
    message_id: int | None
    source: str
    status: str
    created_at: str


class SimilarProposalPage(BaseModel):
    items: list[SimilarProposalOut]
    total: int


class ProposalIdsIn(Body):
    ids: list[int] = Field(min_length=1, max_length=500)


class SkippedOut(BaseModel):
    id: int
    reason: str


class SimilarAcceptedOut(BaseModel):
    accepted: list[int]
    skipped: list[SkippedOut]
    entries: list[str]
    index: str  # rebuilding | unchanged


class RejectedOut(BaseModel):
    rejected: list[int]
    skipped: list[SkippedOut]


class NewEntryOut(BaseModel):
    id: int
    entry_id: str


class EntriesAcceptedOut(BaseModel):
    accepted: list[NewEntryOut]
    skipped: list[SkippedOut]
    index: str


@bp.post("/tickets/<int:ticket_id>/kb-answer")
@endpoint("agent", json=KbAnswerIn, resp=Response(HTTP_201=KbAnswerOut, HTTP_200=KbAnswerOut, HTTP_403=ErrorOut,
                                                  HTTP_404=ErrorOut), tags=["kb"])
def mark_answer(ticket_id: int, json: KbAnswerIn) -> Any:
    """Mark a knowledge-base entry as the answer to the ticket's question: the question is proposed as one more
    similar question of the entry (operators accept it at /api/v1/kb/similar-proposals)"""
    try:
        with session_scope(state().engine) as session:
            ticket = session.get(Ticket, ticket_id)
            if ticket is None:
                return error(404, f"no ticket {ticket_id}")
            check_permission(session, int(current_user.id), current_user.role, ticket, "reply")
            entry = entry_by_external_id(session, json.kb_entry_id)
            if entry is None:
                return error(404, f"no knowledge-base entry {json.kb_entry_id!r}")
            question = ticket_question(session, ticket.first_message_id)
            proposal = question and propose_similar(session, entry, question, source="marked",
                                                    agent_id=int(current_user.id), ticket_id=ticket.id)
            answer = {"entry_id": json.kb_entry_id, "proposal_id": proposal.id if proposal else None,
                      "question": question[1] if question else None,
                      "status": "proposed" if proposal else "known" if question else "no_question"}
    except TicketError as exc:
        return error(exc.status, exc.message)
    return jsonify(answer), 201 if proposal else 200


@bp.get("/kb/similar-proposals")
@endpoint("operator", query=SimilarProposalsQuery, resp=Response(HTTP_200=SimilarProposalPage), tags=["kb"])
def similar_proposals(query: SimilarProposalsQuery) -> Any:
    """Fans' questions agents answered with an entry, proposed as similar questions of that entry (newest first)"""
    with Session(state().engine) as session:
        items, total = list_similar(session, query.status, query.limit, query.offset)
    return jsonify(items=[{**item, "created_at": item["created_at"].isoformat()} for item in items], total=total)


def _rebuild_if(changed: bool) -> str:
    """One index rebuild for a whole batch that changed entries."""
    if not changed:
        return "unchanged"
    request_rebuild(state())
    return "rebuilding"


@bp.post("/kb/similar-proposals/accept")
@endpoint("operator", json=ProposalIdsIn, resp=Response(HTTP_200=SimilarAcceptedOut), tags=["kb"])
def accept_similar_proposals(json: ProposalIdsIn) -> Any:
    """Accept proposed similar questions: each is appended to its entry's similar questions, then the index is
    rebuilt once. Ids that are unknown or decided already are listed under skipped"""
    with session_scope(state().engine) as session:
        result = accept_similar(session, json.ids, int(current_user.id))
    return jsonify(**result, index=_rebuild_if(bool(result["entries"])))


@bp.post("/kb/similar-proposals/reject")
@endpoint("operator", json=ProposalIdsIn, resp=Response(HTTP_200=RejectedOut), tags=["kb"])
def reject_similar_proposals(json: ProposalIdsIn) -> Any:
    """Reject proposed similar questions (the same question is not proposed for that entry again)"""
    with session_scope(state().engine) as session:
        result = reject_similar(session, json.ids, int(current_user.id))
    return jsonify(result)


@bp.post("/kb/proposals/accept")
@endpoint("operator", json=ProposalIdsIn, resp=Response(HTTP_200=EntriesAcceptedOut), tags=["kb"])
def accept_proposals(json: ProposalIdsIn) -> Any:
    """Accept several new-entry proposals at once (each with its own question and answer; one without an answer
    is skipped), then rebuild the index once"""
    with session_scope(state().engine) as session:
        result = accept_new_entries(session, json.ids)
    return jsonify(**result, index=_rebuild_if(bool(result["accepted"])))


@bp.post("/kb/proposals/reject")
@endpoint("operator", json=ProposalIdsIn, resp=Response(HTTP_200=RejectedOut), tags=["kb"])
def reject_proposals(json: ProposalIdsIn) -> Any:
    """Reject several new-entry proposals at once"""
    with session_scope(state().engine) as session:
        result = reject_new_entries(session, json.ids)
    return jsonify(result)
