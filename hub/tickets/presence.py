"""Agent presence: online (takes new tickets), away (keeps theirs, gets no new ones), offline (theirs are routed
to others). The console's heartbeat (`PUT /api/v1/agents/me/status`) keeps a status alive; an agent whose console
goes silent fades to away, then offline. A status set with `hub agents status` (no console) holds until changed.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, select

from hub.core.config import Config
from hub.core.models import as_utc, utcnow
from hub.tickets.effects import Effects
from hub.tickets.errors import TicketError
from hub.tickets.lifecycle import lock_ticket, log_event, unassign
from hub.tickets.models import ASSIGNED, AWAY, OFFLINE, ONLINE, PRESENCE, WAITING, Agent, Ticket
from hub.tickets.teams import agent_of


def set_status(session: Session, user_id: int, status: str, fx: Effects, *, heartbeat: bool = False,
               actor_id: int | None = None) -> Agent:
    """Set an agent's presence. Online: waiting tickets are routed to them; offline: their tickets go back to
    the queue. `heartbeat`: set by the console, which keeps it alive."""
    if status not in PRESENCE:
        raise TicketError(f"status is one of {', '.join(PRESENCE)}, not {status!r}")
    agent = agent_of(session, user_id)
    old = agent.status
    agent.status = status
    agent.status_by_heartbeat = heartbeat
    if heartbeat:
        agent.last_seen_at = utcnow()
    session.add(agent)
    if status != old:
        fx.live.append({"type": "agent.status", "agent_id": user_id, "status": status})
    if status == ONLINE and old != ONLINE:
        fx.wake = True
    if status == OFFLINE and old != OFFLINE:
        hand_back(session, user_id, fx, actor_id, "the agent went offline")
    return agent


def hand_back(session: Session, user_id: int, fx: Effects, actor_id: int | None, why: str) -> list[int]:
    """Every active ticket of this agent back to the queue, to be routed to someone online."""
    ticket_ids = session.exec(select(Ticket.id).where(Ticket.assignee_id == user_id,
                                                      col(Ticket.status).in_((ASSIGNED, WAITING)))).all()
    for ticket_id in ticket_ids:
        ticket = lock_ticket(session, ticket_id)
        if ticket.assignee_id == user_id and ticket.status in (ASSIGNED, WAITING):
            unassign(session, ticket, actor_id, fx, why)
            log_event(session, ticket, "rerouted", actor_id, agent_id=user_id, why=why)
    return list(ticket_ids)


def fade(session: Session, config: Config, fx: Effects) -> dict[str, int]:
    """Agents whose console went silent: online → away after agent_away_seconds, → offline after
    agent_offline_seconds (their tickets re-routed). Only statuses the console keeps alive fade."""
    now = utcnow()
    away_before = now - timedelta(seconds=config.agent_away_seconds)
    offline_before = now - timedelta(seconds=config.agent_offline_seconds)
    silent = session.exec(select(Agent).where(col(Agent.status_by_heartbeat).is_(True),
                                              col(Agent.status).in_((ONLINE, AWAY)),
                                              col(Agent.last_seen_at) < away_before)).all()
    counts = {"away": 0, "offline": 0}
    for agent in silent:
        new = OFFLINE if agent.last_seen_at and as_utc(agent.last_seen_at) < offline_before else AWAY
        if new == agent.status:
            continue
        agent.status = new
        session.add(agent)
        fx.live.append({"type": "agent.status", "agent_id": agent.user_id, "status": new})
        if new == OFFLINE:
            hand_back(session, agent.user_id, fx, None, "the agent's console went silent")
        counts[new] += 1
    return counts
