"""API: tickets — the queue with filters and paging, one ticket with its messages and events, opening one by hand,
and the work on it (assign, transfer, reply, note, status, merge). Every change locks the ticket, checks who may
do it (hub.tickets.permissions: 403 naming the reason), applies it in one transaction (a refusal changes nothing:
404 unknown, 409 an illegal move with the reason) and only then enqueues what it asked for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from flask import jsonify, request
from flask_login import current_user
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, select

from hub.core.db import session_scope
from hub.core.models import Account, Identity, User
from hub.kb import learn_from_answer
from hub.tickets import (
    Effects,
    NotFound,
    Opening,
    Ticket,
    TicketError,
    add_note,
    check_permission,
    open_or_join,
    priority_for,
    reply,
    run_effects,
    ticket_detail,
)
from hub.tickets.canned import canned_by_shortcut, render_for
from hub.tickets.lifecycle import lock_ticket, merge, set_status
from hub.tickets.listing import list_tickets
from hub.tickets.models import PRIORITY_BY_NAME
from hub.tickets.permissions import check_create
from hub.tickets.routing import assign_to, transfer_to_team
from hub.tickets.teams import team_named
from hub.web.api.base import Body, ErrorOut, Response, bp, endpoint, error, state

Priority = Literal["low", "normal", "high", "urgent"]


class TicketsQuery(BaseModel):
    status: str | None = Field(default=None, max_length=64, description="one status or several: open,assigned")
    assignee: str | None = Field(default=None, max_length=254, description="'me', or an agent's e-mail")
    team: str | None = Field(default=None, max_length=64, description="a team's name")
    unassigned: bool | None = None
    fan: int | None = None
    priority: Priority | None = None
    q: str | None = Field(default=None, max_length=200, description="subject, fan name or ticket number (#12)")
    sort: Literal["newest", "oldest", "priority"] = "newest"
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0)


class TicketOut(BaseModel):
    model_config = ConfigDict(extra="allow")  # hub.tickets.listing gives more fields than these
    id: int
    fan: int
    status: str
    assignee: str | None = Field(description="the agent's e-mail")
    team: str | None
    priority: str
    intent: str | None
    subject: str
    window_closes_at: str | None = Field(description="when WeChat's 48-hour customer-service window closes")
    created_at: str


class TicketPage(BaseModel):
    items: list[TicketOut]
    total: int
    limit: int
    offset: int


class TicketDetailOut(TicketOut):
    messages: list[dict[str, Any]]
    events: list[dict[str, Any]]


class TicketIn(Body):
    fan_id: int
    account: str | None = Field(default=None, max_length=64, description="the account key (default: the fan's "
                                                                           "only account)")
    subject: str = Field(min_length=1, max_length=200)
    priority: Priority | None = None
    team: str | None = Field(default=None, max_length=64)


class TicketAssignIn(Body):
    agent: str = Field(min_length=1, max_length=254, description="'me' or the agent's e-mail")


class TicketTransferIn(Body):
    agent: str | None = Field(default=None, max_length=254, description="the agent's e-mail")
    team: str | None = Field(default=None, max_length=64, description="a team's name: back to its queue")


class TicketReplyIn(Body):
    text: str | None = Field(default=None, max_length=2000)
    canned: str | None = Field(default=None, max_length=64, description="a canned reply's shortcut, instead of text")
    status: Literal["waiting", "resolved"] | None = Field(default=None, description="set after the reply")
    kb_entry_id: str | None = Field(default=None, min_length=1, max_length=128, description=(
        "the knowledge-base entry the reply was built from (a suggestion inserted): the ticket's question is"
        " proposed as one more similar question of it"))


class TicketReplyOut(BaseModel):
    id: int
    status: str
    ticket: TicketOut


class TicketNoteIn(Body):
    text: str = Field(min_length=1, max_length=5000)


class TicketNoteOut(BaseModel):
    id: int


class TicketStatusIn(Body):
    status: Literal["open", "assigned", "waiting", "resolved", "closed"]


class TicketMergeIn(Body):
    into: int = Field(description="the ticket this one is folded into")


_TICKET_ANSWERS = dict(HTTP_200=TicketOut, HTTP_404=ErrorOut, HTTP_409=ErrorOut)


def _me() -> int:
    return int(current_user.id)


def _user_id(session: Session, email: str) -> int:
    if email == "me":
        return _me()
    user_id = session.exec(select(User.id).where(User.email == email.strip().lower())).first()
    if user_id is None:
        raise NotFound(f"no user {email}")
    return user_id


def _row(session: Session, ticket_id: int) -> dict[str, Any]:
    return next(item for item in list_tickets(session, q=f"#{ticket_id}", limit=1)[0])


def _work(ticket_id: int, action: str, change: Callable[[Session, Ticket, Effects], Any],
          status: int = 200) -> Any:
    """Lock the ticket, check the caller may do `action`, apply `change`, commit, then run its effects. `change`
    returns the JSON to answer (default: the ticket as the queue shows it)."""
    hub, fx = state(), Effects()
    try:
        with session_scope(hub.engine) as session:
            ticket = lock_ticket(session, ticket_id)
            check_permission(session, _me(), current_user.role, ticket, action)
            answer = change(session, ticket, fx)
            session.flush()
            answer = answer if answer is not None else _row(session, ticket.id)
    except TicketError as exc:
        return error(exc.status, exc.message)
    run_effects(hub, fx)
    return jsonify(answer), status


@bp.get("/tickets")
@endpoint("agent", "operator", query=TicketsQuery, resp=Response(HTTP_200=TicketPage, HTTP_404=ErrorOut),
          tags=["tickets"])
def tickets(query: TicketsQuery) -> Any:
    """The queue: tickets with filters and paging"""
    try:
        with Session(state().engine) as session:
            assignee = _user_id(session, query.assignee) if query.assignee else None
            team = team_named(session, query.team).id if query.team else None
            items, total = list_tickets(session, status=query.status, assignee_id=assignee, team_id=team,
                                        unassigned=query.unassigned, fan_id=query.fan, priority=query.priority,
                                        q=query.q, sort=query.sort, limit=query.limit, offset=query.offset)
    except TicketError as exc:
        return error(exc.status, exc.message)
    return jsonify(items=items, total=total, limit=query.limit, offset=query.offset)


@bp.post("/tickets")
@endpoint("agent", json=TicketIn, resp=Response(HTTP_201=TicketOut, HTTP_404=ErrorOut, HTTP_409=ErrorOut),
          tags=["tickets"])
def create_ticket(json: TicketIn) -> Any:
    """Open a ticket for a fan by hand (or add to the fan's active one)"""
    hub, fx = state(), Effects()
    try:
        check_create(current_user.role)
        with session_scope(hub.engine) as session:
            identities = session.exec(select(Identity).where(Identity.fan_id == json.fan_id)).all()
            if json.account:
                account = session.exec(select(Account).where(Account.key == json.account)).first()
                identities = [i for i in identities if account is not None and i.account_id == account.id]
            if len(identities) != 1:
                raise NotFound(f"fan {json.fan_id} has no identity on that account" if identities == [] else
                               f"fan {json.fan_id} is on several accounts: name one (account)")
            priority = PRIORITY_BY_NAME[json.priority] if json.priority else priority_for(None, (), ())
            team_id = team_named(session, json.team).id if json.team else None
            ticket, how = open_or_join(session, hub.config, Opening(
                account_id=identities[0].account_id, fan_id=json.fan_id, text=json.subject, priority=priority,
                team_id=team_id, source="agent" if current_user.role != "admin" else "api",
                fan_message_at=identities[0].last_inbound_at, reason="opened by hand"), fx, actor_id=_me())
            session.flush()
            answer = _row(session, ticket.id)
    except TicketError as exc:
        return error(exc.status, exc.message)
    run_effects(hub, fx)
    return jsonify(answer), 201 if how == "opened" else 200


@bp.get("/tickets/<int:ticket_id>")
@endpoint("agent", "operator", resp=Response(HTTP_200=TicketDetailOut, HTTP_404=ErrorOut), tags=["tickets"])
def ticket(ticket_id: int) -> Any:
    """One ticket with its messages and its event log"""
    try:
        with Session(state().engine) as session:
            return jsonify(ticket_detail(session, ticket_id))
    except TicketError as exc:
        return error(exc.status, exc.message)


@bp.post("/tickets/<int:ticket_id>/assign")
@endpoint("agent", json=TicketAssignIn, resp=Response(**_TICKET_ANSWERS), tags=["tickets"])
def assign(ticket_id: int, json: TicketAssignIn) -> Any:
    """Take a ticket ('me') or assign it to an agent (team leads and admins); capacity still holds (409)"""
    def change(session: Session, ticket: Ticket, fx: Effects) -> None:
        agent_id = _user_id(session, json.agent)
        check_permission(session, _me(), current_user.role, ticket, "take" if agent_id == _me() else "assign")
        assign_to(session, ticket, agent_id, _me(), fx)

    return _work(ticket_id, "read", change)


@bp.post("/tickets/<int:ticket_id>/transfer")
@endpoint("agent", json=TicketTransferIn, resp=Response(**_TICKET_ANSWERS), tags=["tickets"])
def transfer(ticket_id: int, json: TicketTransferIn) -> Any:
    """Transfer a ticket to another agent or to a team's queue"""
    def change(session: Session, ticket: Ticket, fx: Effects) -> None:
        if bool(json.agent) == bool(json.team):
            raise TicketError("name either an agent or a team to transfer to")
        if json.agent:
            assign_to(session, ticket, _user_id(session, json.agent), _me(), fx)
        else:
            transfer_to_team(session, ticket, team_named(session, json.team or "").id, _me(), fx)

    return _work(ticket_id, "transfer", change)


@bp.post("/tickets/<int:ticket_id>/replies")
@endpoint("agent", json=TicketReplyIn, resp=Response(HTTP_202=TicketReplyOut, HTTP_404=ErrorOut, HTTP_409=ErrorOut),
          tags=["tickets"])
def ticket_reply(ticket_id: int, json: TicketReplyIn) -> Any:
    """An agent's reply to the ticket's fan, delivered through the channel. Send an Idempotency-Key header to make a
    retried request store the reply once. 409 says why WeChat would refuse it (48-hour window, quota)."""
    def change(session: Session, ticket: Ticket, fx: Effects) -> dict[str, Any]:
        if bool(json.text) == bool(json.canned):
            raise TicketError("give either text or canned (a canned reply's shortcut)")
        text = json.text or render_for(session, canned_by_shortcut(session, json.canned or "").text, ticket, _me())
        message_id = reply(session, hub.config, ticket, _me(), text, client_key=request.headers.get("Idempotency-Key"),
                           status=json.status, fx=fx)
        try:  # what the knowledge base learns from this answer (hub.kb.learning)
            learn_from_answer(session, first_message_id=ticket.first_message_id, entry_external_id=json.kb_entry_id,
                              source="inserted", agent_id=_me(), ticket_id=ticket.id, reply_id=message_id,
                              reply_text=text)
        except LookupError as exc:
            raise TicketError(str(exc)) from None
        session.flush()
        return {"id": message_id, "status": "queued", "ticket": _row(session, ticket.id)}

    hub = state()
    return _work(ticket_id, "reply", change, status=202)


@bp.post("/tickets/<int:ticket_id>/notes")
@endpoint("agent", json=TicketNoteIn, resp=Response(HTTP_201=TicketNoteOut, HTTP_404=ErrorOut), tags=["tickets"])
def note(ticket_id: int, json: TicketNoteIn) -> Any:
    """An internal note on the ticket (never sent to the fan)"""
    return _work(ticket_id, "note", lambda session, ticket, fx: {"id": add_note(session, ticket, _me(), json.text, fx)},
                 status=201)


@bp.post("/tickets/<int:ticket_id>/status")
@endpoint("agent", json=TicketStatusIn, resp=Response(**_TICKET_ANSWERS), tags=["tickets"])
def status(ticket_id: int, json: TicketStatusIn) -> Any:
    """Move a ticket: waiting (on the fan), assigned, resolved, closed, or open (reopen)"""
    action = "resolve" if json.status == "resolved" else "status"
    return _work(ticket_id, action, lambda session, ticket, fx: set_status(
        session, state().config, ticket, json.status, _me(), fx))


@bp.post("/tickets/<int:ticket_id>/merge")
@endpoint("agent", json=TicketMergeIn, resp=Response(**_TICKET_ANSWERS), tags=["tickets"])
def merge_ticket(ticket_id: int, json: TicketMergeIn) -> Any:
    """Fold this ticket into another ticket of the same fan"""
    def change(session: Session, ticket: Ticket, fx: Effects) -> dict[str, Any]:
        target = lock_ticket(session, json.into)
        check_permission(session, _me(), current_user.role, target, "merge")
        merge(session, state().config, ticket, target, _me(), fx)
        session.flush()
        return _row(session, target.id)

    return _work(ticket_id, "merge", change)

