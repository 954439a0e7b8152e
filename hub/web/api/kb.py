"""API for agents and operators around the knowledge base: suggestions for a conversation, agent replies,
and the proposals collected from questions the bot could not answer."""

from __future__ import annotations

from typing import Annotated, Any

from flask import jsonify
from flask_login import current_user
from pydantic import BaseModel, StringConstraints
from sqlmodel import Session, select

from hub.core.db import session_scope
from hub.core.models import IN, Fan, Message
from hub.kb import (
    KbProposal,
    accept_proposal,
    is_follow_up,
    kb_service,
    request_rebuild,
)
from hub.outbound import enqueue_send, record_outbound
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
