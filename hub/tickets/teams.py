"""Teams and agents: who takes which tickets (skills), how many at once (capacity), and the rules that give a
new ticket its team and priority."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlmodel import Session, col, select
from werkzeug.security import generate_password_hash

from hub.core.models import Account, User
from hub.tickets.effects import Effects
from hub.tickets.errors import Conflict, NotFound, TicketError
from hub.tickets.models import HIGH, NORMAL, URGENT, Agent, Team, TeamMember

MAX_CAPACITY = 100
COMPLAINT = "complaint"
ACCOUNT_SKILL = "account:"  # a team with skills "account:KEY" takes only that account's tickets


def clean_skills(skills: Iterable[str]) -> list[str]:
    out: list[str] = []
    for skill in skills:
        skill = str(skill).strip()
        limit = len(ACCOUNT_SKILL) + 64 if skill.startswith(ACCOUNT_SKILL) else 30
        if not skill or len(skill) > limit or skill == ACCOUNT_SKILL:
            raise TicketError(f"a skill is an intent or a tag name of 1–30 characters, or {ACCOUNT_SKILL}KEY, "
                              f"not {skill!r}")
        if skill not in out:
            out.append(skill)
    return out


def team_named(session: Session, name: str) -> Team:
    team = session.exec(select(Team).where(Team.name == name.strip())).first()
    if team is None:
        raise NotFound(f"no team named {name!r}")
    return team


def create_team(session: Session, name: str, skills: Iterable[str] = (), lead_email: str | None = None) -> Team:
    name = name.strip()
    if not name or len(name) > 64:
        raise TicketError("a team name has 1–64 characters")
    if session.exec(select(Team).where(Team.name == name)).first() is not None:
        raise Conflict(f"a team named {name!r} exists already")
    team = Team(name=name, skills=clean_skills(skills))
    if lead_email:
        team.lead_id = _user(session, lead_email).id
    session.add(team)
    session.flush()
    return team


def update_team(session: Session, team: Team, *, skills: Iterable[str] | None = None,
                lead_email: str | None = None, name: str | None = None) -> Team:
    if skills is not None:
        team.skills = clean_skills(skills)
    if lead_email is not None:
        team.lead_id = _user(session, lead_email).id if lead_email else None
    if name is not None and name.strip() != team.name:
        if session.exec(select(Team).where(Team.name == name.strip())).first() is not None:
            raise Conflict(f"a team named {name!r} exists already")
        team.name = name.strip()
    session.add(team)
    return team


def _user(session: Session, email: str) -> User:
    user = session.exec(select(User).where(User.email == email.strip().lower())).first()
    if user is None:
        raise NotFound(f"no user {email}")
    return user


def add_agent(session: Session, email: str, team_names: Sequence[str] = (), capacity: int | None = None,
              password: str | None = None, display_name: str = "") -> tuple[User, Agent]:
    """Make a console user an agent (creating the user, role agent, when a password is given) in these teams."""
    email = email.strip().lower()
    user = session.exec(select(User).where(User.email == email)).first()
    if user is None:
        if not password:
            raise TicketError(f"no user {email}: give --password to create the agent")
        if len(password) < 8:
            raise TicketError("the password needs at least 8 characters")
        user = User(email=email, password_hash=generate_password_hash(password), role="agent",
                    display_name=display_name or email.split("@")[0])
        session.add(user)
        session.flush()
    agent = session.get(Agent, user.id)
    if agent is None:
        agent = Agent(user_id=user.id)
    if capacity is not None:
        set_capacity_value(agent, capacity)
    session.add(agent)
    for name in team_names:
        team = team_named(session, name)
        if session.get(TeamMember, (team.id, user.id)) is None:
            session.add(TeamMember(team_id=team.id, user_id=user.id))
    session.flush()
    return user, agent


def set_capacity_value(agent: Agent, capacity: int) -> None:
    if not 0 <= capacity <= MAX_CAPACITY:
        raise TicketError(f"capacity is a number of tickets from 0 to {MAX_CAPACITY}")
    agent.capacity = capacity


def set_capacity(session: Session, user_id: int, capacity: int, fx: Effects) -> Agent:
    agent = agent_of(session, user_id)
    raised = capacity > agent.capacity
    set_capacity_value(agent, capacity)
    session.add(agent)
    if raised:
        fx.wake = True
    return agent


def agent_of(session: Session, user_id: int) -> Agent:
    agent = session.get(Agent, user_id)
    if agent is None:
        raise NotFound(f"user {user_id} is not an agent (hub agents add)")
    return agent


def teams_of(session: Session, user_id: int) -> list[Team]:
    return list(session.exec(select(Team).join(TeamMember, col(TeamMember.team_id) == Team.id)
                             .where(TeamMember.user_id == user_id).order_by(col(Team.name))).all())


def team_for(session: Session, intent: str | None, interests: Sequence[str],
             account_id: int | None = None) -> int | None:
    """The team whose skills match: the intent first (a complaint goes to the team with skill "complaint"),
    then the fan's interests, strongest first; None when no team matches (any agent may take it).

    An account may have teams of its own (skill "account:KEY"): its tickets go only to those — the matching one,
    else the one with "*", else the first — and teams without an account skill take every other account's."""
    teams = session.exec(select(Team).order_by(col(Team.id))).all()
    account = session.get(Account, account_id) if account_id is not None else None
    own = [team for team in teams if account is not None and f"{ACCOUNT_SKILL}{account.key}" in (team.skills or [])]
    candidates = own or [team for team in teams if not _account_scoped(team)]
    for wanted in ([intent] if intent else []) + list(interests):
        for team in candidates:
            if wanted in (team.skills or []):
                return team.id
    default = [team for team in candidates if "*" in (team.skills or [])] or own
    return default[0].id if default else None


def _account_scoped(team: Team) -> bool:
    return any(str(skill).startswith(ACCOUNT_SKILL) for skill in team.skills or [])


def priority_for(intent: str | None, tags: Iterable[str], vip_tags: Iterable[str]) -> int:
    """Complaints and VIP fans are high; a VIP fan's complaint is urgent."""
    priority = NORMAL
    if intent == COMPLAINT:
        priority = HIGH
    if set(tags) & {t.strip() for t in vip_tags if t.strip()}:
        priority = URGENT if priority == HIGH else HIGH
    return priority


def team_dict(session: Session, team: Team) -> dict[str, Any]:
    members = session.exec(select(User.email).join(TeamMember, col(TeamMember.user_id) == User.id)
                           .where(TeamMember.team_id == team.id).order_by(col(User.email))).all()
    lead = session.get(User, team.lead_id) if team.lead_id else None
    return {"id": team.id, "name": team.name, "skills": list(team.skills or []), "lead": lead.email if lead else None,
            "agents": list(members)}


def agent_dict(session: Session, user: User, agent: Agent) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "name": user.display_name or user.email, "status": agent.status,
            "capacity": agent.capacity, "load": agent.load, "active": user.active,
            "teams": [team.name for team in teams_of(session, user.id)],
            "last_seen_at": agent.last_seen_at.isoformat() if agent.last_seen_at else None}
