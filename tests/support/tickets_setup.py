"""Test helpers for tickets: an account, fans with messages, teams and agents, tickets opened as the pipeline
opens them, and the invariants routing must keep."""

from __future__ import annotations

import itertools
from typing import Any

from sqlmodel import Session, col, func, select

from hub.core.db import session_scope
from hub.core.models import IN, Account, Fan, Identity, Message, User, utcnow
from hub.tickets import Effects, Opening, open_or_join, run_effects
from hub.tickets.lifecycle import lock_ticket, set_status
from hub.tickets.models import ASSIGNED, OPEN, RESOLVED, WAITING, Agent, Ticket
from hub.tickets.presence import set_status as set_presence
from hub.tickets.teams import add_agent, create_team

_ids = itertools.count(1)


# Nothing listens there: sends (the survey on resolution) fail fast instead of reaching the real WeChat API.
NOWHERE = "http://127.0.0.1:9"


def make_account(state: Any, key: str = "brand", api_base: str = NOWHERE) -> int:
    with session_scope(state.engine) as session:
        account = Account(key=key, channel="wechat", token="t", app_id=f"wx{key}", app_secret="s", api_base=api_base)
        session.add(account)
        session.flush()
        return account.id


def fan_message(state: Any, account_id: int, sender: str, text: str, fan_id: int | None = None) -> Message:
    """A fan (created on first use) writes `text`; the stored inbound message (already processed)."""
    now = utcnow()
    with session_scope(state.engine) as session:
        identity = session.exec(select(Identity).where(Identity.account_id == account_id,
                                                       Identity.external_id == sender)).first()
        if identity is None:
            if fan_id is None:
                fan = Fan(display_name=f"fan {sender}")
                session.add(fan)
                session.flush()
                fan_id = fan.id
            identity = Identity(fan_id=fan_id, account_id=account_id, external_id=sender, last_inbound_at=now)
            session.add(identity)
            session.flush()
        message = Message(account_id=account_id, fan_id=identity.fan_id, identity_id=identity.id, direction=IN,
                          kind="text", text=text, external_id=f"m{next(_ids)}", sent_at=now, received_at=now,
                          status="processed", reply_state="none", source="fan", raw="")
        session.add(message)
        session.flush()
        session.refresh(message)
        session.expunge(message)
        return message


def open_for(state: Any, message: Message, *, team_id: int | None = None, priority: int = 2,
             intent: str | None = None, run: bool = True) -> tuple[int, str]:
    """Open (or join) the fan's ticket as the pipeline does; returns (ticket id, how)."""
    fx = Effects()
    with session_scope(state.engine) as session:
        ticket, how = open_or_join(session, state.config, Opening(
            account_id=message.account_id, fan_id=message.fan_id, channel="wechat", message_id=message.id,
            text=message.text, intent=intent, priority=priority, team_id=team_id, fan_message_at=message.sent_at,
        ), fx)
        ticket_id = ticket.id
    if run:
        run_effects(state, fx)
    return ticket_id, how


def ticket_row(state: Any, ticket_id: int) -> Ticket:
    with Session(state.engine) as session:
        return session.get(Ticket, ticket_id)


def resolve(state: Any, ticket_id: int) -> None:
    """Resolve a ticket as an agent would (its effects run: the survey job, waiting tickets routed)."""
    fx = Effects()
    with session_scope(state.engine) as session:
        set_status(session, state.config, lock_ticket(session, ticket_id), RESOLVED, None, fx)
    run_effects(state, fx)


def make_team(state: Any, name: str, skills: tuple[str, ...] = ()) -> int:
    with session_scope(state.engine) as session:
        return create_team(session, name, skills).id


def make_agent(state: Any, email: str, teams: tuple[str, ...] = (), capacity: int = 5, status: str = "online") -> int:
    fx = Effects()
    with session_scope(state.engine) as session:
        user, _ = add_agent(session, email, teams, capacity=capacity, password="password123")
        user_id = user.id
        set_presence(session, user_id, status, fx)
    run_effects(state, fx)
    return user_id


def loads(state: Any) -> dict[int, tuple[int, int]]:
    """agent id -> (load, capacity)."""
    with Session(state.engine) as session:
        return {a.user_id: (a.load, a.capacity) for a in session.exec(select(Agent)).all()}


def check_invariants(state: Any) -> None:
    """Every agent's load is the number of their active tickets, and no agent is over capacity."""
    with Session(state.engine) as session:
        counted = dict(session.exec(select(Ticket.assignee_id, func.count()).where(
            col(Ticket.status).in_((ASSIGNED, WAITING))).group_by(Ticket.assignee_id)).all())
        for agent in session.exec(select(Agent)).all():
            assert agent.load == counted.get(agent.user_id, 0), (agent.user_id, agent.load, counted)
            assert agent.load <= agent.capacity, (agent.user_id, agent.load, agent.capacity)
        unassigned_active = session.exec(select(func.count()).select_from(Ticket).where(
            col(Ticket.status).in_((ASSIGNED, WAITING)), col(Ticket.assignee_id).is_(None))).one()
        assert unassigned_active == 0


def open_tickets(state: Any) -> list[int]:
    with Session(state.engine) as session:
        return list(session.exec(select(Ticket.id).where(Ticket.status == OPEN)).all())


def user_id(state: Any, email: str) -> int:
    with Session(state.engine) as session:
        return session.exec(select(User.id).where(User.email == email)).one()
