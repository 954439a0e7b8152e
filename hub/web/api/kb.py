"""API for agents and operators around the knowledge base: suggestions for a conversation, agent replies,
and the proposals collected from questions the bot could not answer."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import jsonify
from flask_login import current_user
from pydantic import BaseModel, Field, StringConstraints
from sqlmodel import Session, select

from hub.core.db import session_scope
from hub.core.models import IN, Fan, Message
from hub.kb import (
    KbProposal,
    accept_new_entries,
    accept_proposal,
    accept_similar,
    entry_by_external_id,
    is_follow_up,
    kb_service,
    list_similar,
    propose_similar,
    reject_new_entries,
    reject_similar,
    request_rebuild,
    ticket_question,
)
from hub.outbound import enqueue_send, record_outbound
from hub.tickets import Ticket, TicketError, check_permission
from hub.web.api.base import Body, ErrorOut, Response, bp, endpoint, error, state

RECENT_MESSAGES = 3
LOOK_BACK = 10  # the fan's latest messages looked at for RECENT_MESSAGES that ask something


class SuggestionOut(BaseModel):
    entry_id: str
    question: str | None
    answer: str | None
    confidence: float
    for_message: str


class ReplyIn(Body):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class QueuedOut(BaseModel):
    id: int
    status: str


class ProposalOut(BaseModel):
    id: int
    question: str
    answer: str
    candidates: list[Any]


class AcceptIn(Body):
    question: str | None = None
    answer: str | None = None


class AcceptedOut(BaseModel):
    entry_id: str
    index: str


@bp.get("/fans/<int:fan_id>/suggestions")
@endpoint("agent", "operator", resp=Response(HTTP_200=list[SuggestionOut], HTTP_404=ErrorOut, HTTP_409=ErrorOut),
          tags=["kb"])
def suggestions(fan_id: int) -> Any:
    """Knowledge-base entries ranked for the fan's latest messages"""
    # Right after an import this process may still be loading the new index: wait for it rather than say "none".
    kb = kb_service(state()) or kb_service(state(), wait=True)
    with Session(state().engine) as session:
        if session.get(Fan, fan_id) is None:
            return error(404, f"no fan {fan_id}")
        rows = session.exec(select(Message.text, Message.meta).where(Message.fan_id == fan_id, Message.direction == IN,
                                                                     Message.text != "")
                            .order_by(Message.id.desc()).limit(LOOK_BACK)).all()  # type: ignore[union-attr]
    # "没用" or "转人工" asks nothing: rank for the fan's questions (their latest messages if all are follow-ups).
    asking = [text for text, meta in rows if not is_follow_up(text, (meta or {}).get("intent"))]
    texts = (asking or [text for text, _ in rows])[:RECENT_MESSAGES]
    if kb is None:
        return error(409, "the knowledge base has no index yet: import entries (hub kb import)")
    best: dict[str, dict[str, Any]] = {}
    for text in texts:  # newest first: a later message's ranking wins ties
        for hit in kb.search(text, k=5):
            entry = kb.entry(hit.entry_id) or {}
            item = {"entry_id": hit.entry_id, "question": entry.get("question"), "answer": entry.get("answer"),
                    "confidence": round(float(hit.confidence), 3), "for_message": text}
            if hit.entry_id not in best or item["confidence"] > best[hit.entry_id]["confidence"]:
                best[hit.entry_id] = item
    ranked = sorted(best.values(), key=lambda item: -item["confidence"])[:5]
    return jsonify(ranked)


@bp.post("/fans/<int:fan_id>/messages")
@endpoint("agent", json=ReplyIn, resp=Response(HTTP_202=QueuedOut, HTTP_404=ErrorOut), tags=["kb"])
def agent_reply(fan_id: int, json: ReplyIn) -> Any:
    """An agent's reply to a fan, delivered through the channel"""
    text = json.text
    with session_scope(state().engine) as session:
        last_in = session.exec(select(Message).where(Message.fan_id == fan_id, Message.direction == IN)
                               .order_by(Message.id.desc())).first()  # type: ignore[union-attr]
        if last_in is None:
            return error(404, f"fan {fan_id} has not written to any account")
        count = len(session.exec(select(Message.id).where(Message.reply_to_id == last_in.id)).all())
        out_id = record_outbound(session, last_in, last_in.id, text, source=f"agent:{current_user.id}", via="api",
                                 dedupe_key=f"agent:{last_in.id}:{count}")
        _propose_answer(session, fan_id, text)
    enqueue_send(out_id)
    return jsonify(id=out_id, status="queued"), 202


def _propose_answer(session: Session, fan_id: int, text: str) -> None:
    """The agent's first answer to a question the bot could not answer becomes that proposal's answer."""
    proposal = session.exec(
        select(KbProposal).join(Message, KbProposal.message_id == Message.id)
        .where(Message.fan_id == fan_id, KbProposal.status == "open", KbProposal.answer == "")
        .order_by(KbProposal.id.desc())  # type: ignore[union-attr]
    ).first()
    if proposal is not None:
        proposal.answer = text
        session.add(proposal)


@bp.get("/kb/proposals")
@endpoint("operator", resp=Response(HTTP_200=list[ProposalOut]), tags=["kb"])
def proposals() -> Any:
    """Open proposals for new knowledge-base entries"""
    with Session(state().engine) as session:
        rows = session.exec(select(KbProposal).where(KbProposal.status == "open").order_by(KbProposal.id)).all()
    return jsonify([{"id": p.id, "question": p.question, "answer": p.answer, "candidates": p.candidates}
                    for p in rows])


@bp.post("/kb/proposals/<int:proposal_id>/accept")
@endpoint("operator", json=AcceptIn, resp=Response(HTTP_201=AcceptedOut, HTTP_404=ErrorOut), tags=["kb"])
def accept(proposal_id: int, json: AcceptIn) -> Any:
    """Accept a proposal as a new entry (the proposal's question and answer unless the body gives others)"""
    try:
        with session_scope(state().engine) as session:
            entry = accept_proposal(session, proposal_id, json.question, json.answer)
            entry_id = entry.external_id
    except LookupError as exc:
        return error(404, str(exc))
    except ValueError as exc:
        return error(400, str(exc))
    request_rebuild(state())
    return jsonify(entry_id=entry_id, index="rebuilding"), 201


# ---- learning from agents: the entry an agent chose, and the operators' decisions in bulk ----

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
