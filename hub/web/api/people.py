"""API: the people who work tickets — agents (presence and its heartbeat, capacity, teams), teams (skills, lead),
an agent's notifications, and the canned replies they answer with. Setting up agents and teams is the admin's;
an agent sets their own status (`PUT /agents/me/status`, which the console also sends as its heartbeat)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from flask import jsonify
from flask_login import current_user
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from hub.core.db import session_scope
from hub.core.models import User
from hub.tickets import Effects, TicketError, run_effects
from hub.tickets.canned import canned_dict, create_canned, delete_canned, list_canned, update_canned
from hub.tickets.models import Agent, Team, TeamMember
from hub.tickets.notify import mark_read, notification_dict, unread
from hub.tickets.presence import set_status
from hub.tickets.teams import (
    add_agent,
    agent_dict,
    agent_of,
    create_team,
    set_capacity,
    team_dict,
    team_named,
    update_team,
)
from hub.web.api.base import Body, ErrorOut, Response, bp, endpoint, error, state

Presence = Literal["online", "away", "offline"]


class AgentOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: int
    email: str
    status: str
    capacity: int
    load: int
    teams: list[str]


class AgentIn(Body):
    email: str = Field(min_length=3, max_length=254)
    teams: list[str] = Field(default_factory=list, max_length=20)
    capacity: int | None = Field(default=None, ge=0, le=100)
    password: str | None = Field(default=None, min_length=8, max_length=200, description="creates the user")
    name: str = Field(default="", max_length=200)


class AgentChangeIn(Body):
    capacity: int | None = Field(default=None, ge=0, le=100)
    teams: list[str] | None = Field(default=None, max_length=20, description="the agent's teams, replacing them")
    status: Presence | None = None


class AgentStatusIn(Body):
    status: Presence


class TeamOut(BaseModel):
    id: int
    name: str
    skills: list[str]
    lead: str | None
    agents: list[str]


class TeamIn(Body):
    name: str = Field(min_length=1, max_length=64)
    skills: list[str] = Field(default_factory=list, max_length=50)
    lead: str | None = Field(default=None, max_length=254, description="the team lead's e-mail")


class TeamChangeIn(Body):
    name: str | None = Field(default=None, min_length=1, max_length=64)
    skills: list[str] | None = Field(default=None, max_length=50)
    lead: str | None = Field(default=None, max_length=254, description="'' removes the lead")


class NotificationOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: int
    kind: str
    text: str
    ticket_id: int | None


class NotificationsReadIn(Body):
    ids: list[int] | None = Field(default=None, description="the notifications read (default: all)")


class NotificationsReadOut(BaseModel):
    read: int


class CannedOut(BaseModel):
    id: int
    shortcut: str
    text: str


class CannedIn(Body):
    shortcut: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=2000)


class CannedChangeIn(Body):
    shortcut: str | None = Field(default=None, min_length=1, max_length=64)
    text: str | None = Field(default=None, min_length=1, max_length=2000)


def _me() -> int:
    return int(current_user.id)


def _write(change: Callable[[Session, Effects], Any], status: int = 200) -> Any:
    """Apply a change in one transaction (a refusal changes nothing), then run its effects; answer its result."""
    hub, fx = state(), Effects()
    try:
        with session_scope(hub.engine) as session:
            answer = change(session, fx)
    except TicketError as exc:
        return error(exc.status, exc.message)
    run_effects(hub, fx)
    return jsonify(answer), status


def _agent_json(session: Session, user_id: int) -> dict[str, Any]:
    session.flush()
    user = session.get(User, user_id)
    if user is None:
        raise TicketError(f"no user {user_id}")
    return agent_dict(session, user, agent_of(session, user_id))


@bp.get("/agents")
@endpoint("agent", "operator", resp=Response(HTTP_200=list[AgentOut]), tags=["agents"])
def agents() -> Any:
    """Every agent with their status, load, capacity and teams"""
    with Session(state().engine) as session:
        rows = session.exec(select(User, Agent).join(Agent, col(Agent.user_id) == User.id)
                            .order_by(col(User.email))).all()
        return jsonify([agent_dict(session, user, agent) for user, agent in rows])


@bp.post("/agents")
@endpoint("admin", json=AgentIn, resp=Response(HTTP_201=AgentOut, HTTP_404=ErrorOut), tags=["agents"])
def add(json: AgentIn) -> Any:
    """Make a user an agent (creating the user when a password is given) in these teams"""
    return _write(lambda session, fx: _agent_json(session, add_agent(
        session, json.email, json.teams, capacity=json.capacity, password=json.password,
        display_name=json.name)[0].id), status=201)


@bp.get("/agents/me")
@endpoint("agent", resp=Response(HTTP_200=AgentOut, HTTP_404=ErrorOut), tags=["agents"])
def me() -> Any:
    """The signed-in agent"""
    try:
        with Session(state().engine) as session:
            return jsonify(_agent_json(session, _me()))
    except TicketError as exc:
        return error(exc.status, exc.message)


@bp.put("/agents/me/status")
@endpoint("agent", json=AgentStatusIn, resp=Response(HTTP_200=AgentOut, HTTP_404=ErrorOut), tags=["agents"])
def my_status(json: AgentStatusIn) -> Any:
    """Set your status (online, away, offline); also the console's heartbeat, which keeps it alive"""
    def change(session: Session, fx: Effects) -> dict[str, Any]:
        set_status(session, _me(), json.status, fx, heartbeat=True, actor_id=_me())
        return _agent_json(session, _me())

    return _write(change)


@bp.patch("/agents/<int:user_id>")
@endpoint("admin", json=AgentChangeIn, resp=Response(HTTP_200=AgentOut, HTTP_404=ErrorOut), tags=["agents"])
def change_agent(user_id: int, json: AgentChangeIn) -> Any:
    """Change an agent's capacity, teams or status"""
    def change(session: Session, fx: Effects) -> dict[str, Any]:
        agent_of(session, user_id)
        if json.capacity is not None:
            set_capacity(session, user_id, json.capacity, fx)
        if json.teams is not None:
            wanted = {team_named(session, name).id for name in json.teams}
            for member in session.exec(select(TeamMember).where(TeamMember.user_id == user_id)).all():
                if member.team_id not in wanted:
                    session.delete(member)
            for team_id in wanted - set(session.exec(select(TeamMember.team_id)
                                                     .where(TeamMember.user_id == user_id)).all()):
                session.add(TeamMember(team_id=team_id, user_id=user_id))
            fx.wake = True
        if json.status is not None:
            set_status(session, user_id, json.status, fx, actor_id=_me())
        return _agent_json(session, user_id)

    return _write(change)


@bp.get("/teams")
@endpoint("agent", "operator", resp=Response(HTTP_200=list[TeamOut]), tags=["teams"])
def teams() -> Any:
    """Every team with its skills, lead and agents"""
    with Session(state().engine) as session:
        return jsonify([team_dict(session, team) for team in session.exec(select(Team).order_by(col(Team.name)))])


@bp.post("/teams")
@endpoint("admin", json=TeamIn, resp=Response(HTTP_201=TeamOut, HTTP_409=ErrorOut), tags=["teams"])
def add_team(json: TeamIn) -> Any:
    """Create a team; skills are intents (complaint, human, question...) or interest tag names"""
    return _write(lambda session, fx: team_dict(session, create_team(session, json.name, json.skills, json.lead)),
                  status=201)


@bp.patch("/teams/<int:team_id>")
@endpoint("admin", json=TeamChangeIn, resp=Response(HTTP_200=TeamOut, HTTP_404=ErrorOut), tags=["teams"])
def change_team(team_id: int, json: TeamChangeIn) -> Any:
    """Rename a team, change its skills or its lead"""
    def change(session: Session, fx: Effects) -> dict[str, Any]:
        team = session.get(Team, team_id)
        if team is None:
            raise TicketError(f"no team {team_id}")
        update_team(session, team, skills=json.skills, lead_email=json.lead, name=json.name)
        session.flush()
        return team_dict(session, team)

    return _write(change)


@bp.get("/notifications")
@endpoint("agent", "operator", resp=Response(HTTP_200=list[NotificationOut]), tags=["agents"])
def notifications() -> Any:
    """Your unread notifications: escalations, SLA warnings, WeChat windows about to close"""
    with Session(state().engine) as session:
        return jsonify([notification_dict(note) for note in unread(session, _me())])


@bp.post("/notifications/read")
@endpoint("agent", "operator", json=NotificationsReadIn, resp=Response(HTTP_200=NotificationsReadOut), tags=["agents"])
def read(json: NotificationsReadIn) -> Any:
    """Mark notifications read"""
    return _write(lambda session, fx: {"read": mark_read(session, _me(), json.ids)})


@bp.get("/canned-replies")
@endpoint("agent", "operator", resp=Response(HTTP_200=list[CannedOut]), tags=["tickets"])
def canned() -> Any:
    """Canned replies; their text may hold {fan_name}, {ticket_id} and {agent_name}"""
    with Session(state().engine) as session:
        return jsonify(list_canned(session))


@bp.post("/canned-replies")
@endpoint("agent", json=CannedIn, resp=Response(HTTP_201=CannedOut, HTTP_409=ErrorOut), tags=["tickets"])
def add_canned(json: CannedIn) -> Any:
    """Save a canned reply"""
    return _write(lambda session, fx: canned_dict(create_canned(session, json.shortcut, json.text)), status=201)


@bp.patch("/canned-replies/<int:canned_id>")
@endpoint("agent", json=CannedChangeIn, resp=Response(HTTP_200=CannedOut, HTTP_404=ErrorOut), tags=["tickets"])
def change_canned(canned_id: int, json: CannedChangeIn) -> Any:
    """Change a canned reply"""
    return _write(lambda session, fx: canned_dict(update_canned(session, canned_id, shortcut=json.shortcut,
                                                                text=json.text)))


@bp.delete("/canned-replies/<int:canned_id>")
@endpoint("agent", resp=Response(HTTP_204=None, HTTP_404=ErrorOut), tags=["tickets"])
def remove_canned(canned_id: int) -> Any:
    """Delete a canned reply"""
    return _write(lambda session, fx: delete_canned(session, canned_id) or "", status=204)
