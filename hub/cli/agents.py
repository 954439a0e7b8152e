"""`hub agents`: who works tickets, in which teams, how many at once (capacity) and whether they take new ones
now (online, away, offline). A status set here holds until it is changed; the console's heartbeat fades."""

from __future__ import annotations

import json

import click

from hub.cli.common import command_state
from hub.cli.tickets import PRESENCE, agent_id_for, ticket_work


@click.group("agents")
def agents_group() -> None:
    """Service agents: teams, capacity and presence."""


@agents_group.command("add")
@click.argument("email")
@click.option("--team", "teams", multiple=True, required=True, metavar="NAME",
              help="A team the agent works in (repeat for more).")
@click.option("--capacity", type=int, default=None, help="Tickets at once (default 5).")
@click.option("--password", default=None, help="Creates the console user (role agent) if there is none.")
@click.option("--name", default="", help="Display name of a new user.")
def agents_add(email: str, teams: tuple[str, ...], capacity: int | None, password: str | None, name: str) -> None:
    """Make a user an agent in these teams, creating the user when --password is given. Agents start offline."""
    from hub.tickets.models import ONLINE
    from hub.tickets.teams import add_agent, teams_of

    with ticket_work() as (_, session, fx):
        user, agent = add_agent(session, email, teams, capacity=capacity, password=password, display_name=name)
        if agent.status == ONLINE:  # a new team: its waiting tickets may go to them now
            fx.wake = True
        in_teams = ", ".join(team.name for team in teams_of(session, user.id))  # type: ignore[arg-type]
        status, room = agent.status, agent.capacity
    hint = "" if status == ONLINE else f"; `hub agents status {user.email} online` to take tickets"
    click.echo(f"agent {user.email} in {in_teams}, capacity {room}, {status}{hint}")


@agents_group.command("status")
@click.argument("email")
@click.argument("status", type=click.Choice(PRESENCE))
def agents_status(email: str, status: str) -> None:
    """Online: takes new tickets (waiting ones are routed now). Away: keeps theirs, gets no new ones.
    Offline: their active tickets go back to the queue and are routed to others."""
    from hub.tickets.presence import set_status

    with ticket_work() as (_, session, fx):
        set_status(session, agent_id_for(session, email), status, fx, heartbeat=False)
    click.echo(f"agent {email.strip().lower()} is {status}")


@agents_group.command("capacity")
@click.argument("email")
@click.argument("capacity", metavar="N", type=int)
def agents_capacity(email: str, capacity: int) -> None:
    """How many active tickets the agent takes at once; raising it routes waiting tickets to them now,
    lowering it below their load keeps their tickets and gives them no new ones."""
    from hub.tickets.teams import set_capacity

    with ticket_work() as (_, session, fx):
        agent = set_capacity(session, agent_id_for(session, email), capacity, fx)
        load = agent.load
    click.echo(f"agent {email.strip().lower()}: capacity {capacity} (load {load})")


@agents_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON array.")
def agents_list(as_json: bool) -> None:
    """Every agent: status, load/capacity, teams."""
    from sqlmodel import Session, col, select

    from hub.core.models import User
    from hub.tickets import Agent
    from hub.tickets.teams import agent_dict

    with Session(command_state().engine) as session:
        rows = [agent_dict(session, user, agent) for user, agent in session.exec(
            select(User, Agent).join(Agent, col(Agent.user_id) == User.id).order_by(col(User.email))).all()]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        click.echo("no agents yet; add one with `hub agents add EMAIL --team NAME --password PW`")
    for row in rows:
        click.echo(f"{row['email']:<28} {row['status']:<8} load {row['load']}/{row['capacity']:<4} "
                   f"teams={','.join(row['teams']) or '-'}{'' if row['active'] else '  (deactivated)'}")
