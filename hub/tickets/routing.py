"""Assigning tickets: the ticket's team, its online agents under capacity, the least loaded, round-robin among
equals (the one assigned longest ago); a reopened ticket goes back to its last agent when they can take it.

The claim is two conditional UPDATEs in one transaction, after the ticket's row is locked (lock_ticket):
the agent's load goes up only while `load < capacity` and the agent is online, and the ticket becomes
assigned only while it is still open. Whatever number of workers race, a ticket is assigned once and no agent
goes over capacity; a claim that loses either race is rolled back to its savepoint and the next agent tried.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, update
from sqlmodel import Session, col, select

from hub.core.models import User, utcnow
from hub.tickets.effects import Effects
from hub.tickets.errors import Conflict, NotFound
from hub.tickets.lifecycle import log_event, release_agent
from hub.tickets.models import ASSIGNED, ONLINE, OPEN, WAITING, Agent, TeamMember, Ticket, TicketEvent

CANDIDATES = 20  # agents tried per claim before giving up for now


def _eligible(team_id: int | None) -> Any:
    """Online, active agents under capacity who may take the team's tickets (any agent's when no team)."""
    query = select(Agent.user_id).join(User, col(User.id) == Agent.user_id).where(
        Agent.status == ONLINE, col(Agent.load) < Agent.capacity, col(User.active).is_(True))
    if team_id is not None:
        query = query.join(TeamMember, col(TeamMember.user_id) == Agent.user_id).where(TeamMember.team_id == team_id)
    return query


def candidates(session: Session, team_id: int | None, exclude: tuple[int, ...] = ()) -> list[int]:
    """The eligible agents, best first: least loaded, then the one assigned longest ago (round-robin)."""
    query = _eligible(team_id)
    if exclude:
        query = query.where(col(Agent.user_id).not_in(exclude))
    # NULLs first: an agent never assigned anything is the longest-waiting one.
    query = query.order_by(col(Agent.load), col(Agent.last_assigned_at).is_not(None), col(Agent.last_assigned_at),
                           col(Agent.user_id))
    return list(session.exec(query.limit(CANDIDATES)).all())


def claim_agent(session: Session, user_id: int, *, online_only: bool = True, balance_team: Any = None) -> bool:
    """One more ticket for this agent, if under capacity (and online): the atomic capacity check.

    `balance_team` (a team id, or ANY_TEAM): only while the agent is still among the least loaded of that team.
    On PostgreSQL a claim that waited for another's lock on the agent's row re-checks its load against the
    minimum it saw, so racing routers spread tickets evenly instead of piling onto the agent they all saw first.
    """
    condition = and_(col(Agent.user_id) == user_id, col(Agent.load) < Agent.capacity)
    if online_only:
        condition = and_(condition, Agent.status == ONLINE)
    if balance_team is not None:
        team = None if balance_team is ANY_TEAM else balance_team
        least = _eligible(team).with_only_columns(func.min(Agent.load)).scalar_subquery()
        condition = and_(condition, col(Agent.load) <= least)
    result = session.execute(update(Agent).where(condition)
                             .values(load=Agent.load + 1, last_assigned_at=utcnow()))
    return result.rowcount == 1


ANY_TEAM = object()


def route(session: Session, ticket: Ticket, fx: Effects, exclude: tuple[int, ...] = ()) -> int | None:
    """Assign a locked open ticket to the best available agent; the agent's id, or None (it waits)."""
    if ticket.status != OPEN:
        return None
    order = candidates(session, ticket.team_id, exclude)
    last = _last_agent(session, ticket)
    if last is not None and last in order:
        order.remove(last)
        order.insert(0, last)
    for agent_id in order:
        nested = session.begin_nested()
        balance = None if agent_id == last else (ANY_TEAM if ticket.team_id is None else ticket.team_id)
        if claim_agent(session, agent_id, balance_team=balance) and _take(session, ticket.id, agent_id):
            nested.commit()
            _assigned(session, ticket, agent_id, None, fx, "assigned")
            return agent_id
        nested.rollback()
        session.refresh(ticket)
        if ticket.status != OPEN:
            return None
    return None


def assign_to(session: Session, ticket: Ticket, agent_id: int, actor_id: int | None, fx: Effects) -> None:
    """An agent takes a ticket, or a supervisor assigns or transfers it to one: capacity still holds (409)."""
    agent = session.get(Agent, agent_id)
    user = session.get(User, agent_id)
    if agent is None or user is None or not user.active:
        raise NotFound(f"no active agent {agent_id}")
    if ticket.status not in (OPEN, ASSIGNED, WAITING):
        raise Conflict(f"ticket {ticket.id} is {ticket.status}: reopen it before assigning it")
    if ticket.assignee_id == agent_id and ticket.status != OPEN:
        return
    previous = ticket.assignee_id if ticket.status != OPEN else None
    status = ticket.status
    nested = session.begin_nested()
    if previous is not None:
        release_agent(session, ticket, fx)
    if not claim_agent(session, agent_id, online_only=False):
        nested.rollback()
        raise Conflict(f"{user.email} is at capacity ({agent.load}/{agent.capacity} tickets)")
    session.execute(update(Ticket).where(col(Ticket.id) == ticket.id)
                    .values(assignee_id=agent_id, status=ASSIGNED if status == OPEN else status))
    nested.commit()
    session.refresh(ticket)
    _assigned(session, ticket, agent_id, actor_id, fx, "transferred" if previous else "assigned",
              from_agent=previous)


def transfer_to_team(session: Session, ticket: Ticket, team_id: int, actor_id: int | None, fx: Effects) -> None:
    """Hand a ticket to another team: back to the queue and routed among that team's agents."""
    if ticket.status not in (OPEN, ASSIGNED, WAITING):
        raise Conflict(f"ticket {ticket.id} is {ticket.status}: only active tickets can be transferred")
    release_agent(session, ticket, fx)
    old_team, old_agent = ticket.team_id, ticket.assignee_id
    ticket.team_id, ticket.status, ticket.assignee_id, ticket.paused_at = team_id, OPEN, None, None
    ticket.updated_at = utcnow()
    session.add(ticket)
    log_event(session, ticket, "transferred", actor_id, from_team=old_team, to_team=team_id, from_agent=old_agent)
    fx.route.add(ticket.id)
    fx.changed(ticket.id, "ticket.transferred", team_id=team_id)


def _take(session: Session, ticket_id: int, agent_id: int) -> bool:
    result = session.execute(update(Ticket).where(col(Ticket.id) == ticket_id, Ticket.status == OPEN)
                             .values(assignee_id=agent_id, status=ASSIGNED, updated_at=utcnow()))
    return result.rowcount == 1


def _assigned(session: Session, ticket: Ticket, agent_id: int, actor_id: int | None, fx: Effects, kind: str,
              **data: object) -> None:
    session.refresh(ticket)
    log_event(session, ticket, kind, actor_id, agent_id=agent_id, **data)
    fx.changed(ticket.id, "ticket.assigned", assignee_id=agent_id, fan_id=ticket.fan_id)


def _last_agent(session: Session, ticket: Ticket) -> int | None:
    row = session.exec(select(TicketEvent.data).where(TicketEvent.ticket_id == ticket.id,
                                                      col(TicketEvent.kind).in_(("assigned", "transferred")))
                       .order_by(col(TicketEvent.id).desc()).limit(1)).first()
    return int(row["agent_id"]) if row and row.get("agent_id") else None


def waiting_tickets(session: Session, limit: int = 500) -> list[int]:
    """Open tickets whose team (or, without a team, anyone) has an online agent with room, most urgent first."""
    free = select(Agent.user_id).where(Agent.status == ONLINE, col(Agent.load) < Agent.capacity)
    free_teams = select(TeamMember.team_id).where(col(TeamMember.user_id).in_(free))
    query = select(Ticket.id).where(Ticket.status == OPEN, or_(col(Ticket.team_id).in_(free_teams),
                                                                and_(col(Ticket.team_id).is_(None),
                                                                     select(free.exists()).scalar_subquery())))
    query = query.order_by(col(Ticket.priority).desc(), col(Ticket.created_at), col(Ticket.id))
    return list(session.exec(query.limit(limit)).all())

