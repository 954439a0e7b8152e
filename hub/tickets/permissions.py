"""Who may do what to a ticket: admins everything, operators read, agents their own tickets and their teams'
unassigned ones, team leads every ticket of their team. `check` raises Forbidden (403) with the reason."""

from __future__ import annotations

from sqlmodel import Session, select

from hub.core.models import User
from hub.tickets.errors import Forbidden, TicketError
from hub.tickets.models import Team, TeamMember, Ticket

READ = "read"
TAKE = "take"  # assign the ticket to oneself
ASSIGN = "assign"  # assign it to someone else
ACT = ("reply", "note", "status", "resolve", "transfer", "merge")  # work on a ticket one holds
ACTIONS = (READ, TAKE, ASSIGN, *ACT)
ROLES = ("admin", "operator", "agent")


def check(session: Session, actor_id: int, role: str, ticket: Ticket, action: str) -> None:
    """Raise Forbidden unless the user may do `action` to `ticket`."""
    why = refusal(session, actor_id, role, ticket, action)
    if why is not None:
        raise Forbidden(why)


def allowed(session: Session, actor_id: int, role: str, ticket: Ticket, action: str) -> bool:
    """The same question as `check`, for a console deciding which buttons to show."""
    return refusal(session, actor_id, role, ticket, action) is None


def check_create(role: str) -> None:
    """Opening a ticket by hand (for a fan) is for agents and admins."""
    if role not in ("admin", "agent"):
        raise Forbidden(f"a {role} cannot open tickets; agents and admins can")


def refusal(session: Session, actor_id: int, role: str, ticket: Ticket, action: str) -> str | None:
    """Why the user may not do `action` to `ticket`, or None when they may."""
    if action not in ACTIONS:
        raise TicketError(f"unknown ticket action {action!r}; one of {', '.join(ACTIONS)}")
    if role not in ROLES:
        return f"the role {role!r} has no access to tickets"
    if role == "admin" or action == READ:
        return None
    if role != "agent":
        return "operators can read tickets but not change them; ask an agent or an admin"
    if ticket.team_id is not None and _lead_of(session, ticket.team_id) == actor_id:
        return None  # a team lead works and assigns every ticket of the team
    if action == ASSIGN:
        return (f"only an admin or the lead of the ticket's team can assign ticket {ticket.id} to someone else;"
                " you can take an unassigned ticket yourself")
    if ticket.assignee_id == actor_id:
        return None
    if ticket.assignee_id is not None:
        return (f"ticket {ticket.id} is assigned to {_email(session, ticket.assignee_id)}; only they, the lead of"
                " its team or an admin can change it")
    # Unassigned: anyone in its team (every agent when it has none) may take it, and work it (which takes it).
    if ticket.team_id is not None and session.get(TeamMember, (ticket.team_id, actor_id)) is None:
        team = session.get(Team, ticket.team_id)
        return (f"ticket {ticket.id} belongs to the team {team.name if team else ticket.team_id!r}, which you are"
                " not in; ask its lead or an admin to transfer it")
    return None


def _lead_of(session: Session, team_id: int) -> int | None:
    return session.exec(select(Team.lead_id).where(Team.id == team_id)).first()


def _email(session: Session, user_id: int) -> str:
    user = session.get(User, user_id)
    return user.email if user else f"user {user_id}"
