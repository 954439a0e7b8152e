"""`hub teams`: the teams tickets are routed to, and their skills (intents and interest tags they take)."""

from __future__ import annotations

import json
import re

import click

from hub.cli.common import command_state
from hub.cli.tickets import ticket_work


def parse_skills(value: str | None) -> list[str] | None:
    """"complaint,human" (ASCII or Chinese commas) as a list; None when the option was not given."""
    if value is None:
        return None
    return [part.strip() for part in re.split(r"[,，]", value) if part.strip()]


@click.group("teams")
def teams_group() -> None:
    """Teams of agents and their skills: a ticket goes to the team whose skill matches its intent (complaint,
    human, question, purchase, chitchat) or, failing that, one of the fan's interest tags. A team with the skill
    account:KEY takes only that account's tickets (an account's own teams)."""


@teams_group.command("add")
@click.argument("name")
@click.option("--skills", default=None, help="Comma-separated intents or interest tag names, e.g. complaint,human "
                                             "(* takes tickets no other team matches; account:KEY makes it one "
                                             "account's team).")
@click.option("--lead", "lead", default=None, metavar="EMAIL", help="A user notified when a ticket escalates.")
def teams_add(name: str, skills: str | None, lead: str | None) -> None:
    """Add a team."""
    from hub.tickets.teams import create_team

    with ticket_work() as (_, session, _fx):
        team = create_team(session, name, parse_skills(skills) or [], lead)
        skills_text = ", ".join(team.skills) or "none"
    click.echo(f"team {name.strip()!r} added (skills: {skills_text}); add agents with "
               f"`hub agents add EMAIL --team {name.strip()}`")


@teams_group.command("set")
@click.argument("name")
@click.option("--skills", default=None, help="Replace the skills (comma-separated; \"\" for none).")
@click.option("--lead", "lead", default=None, metavar="EMAIL", help="Replace the lead (\"\" for none).")
def teams_set(name: str, skills: str | None, lead: str | None) -> None:
    """Change a team's skills or lead (tickets opened from now on are routed by the new skills)."""
    from hub.tickets.teams import team_dict, team_named, update_team

    if skills is None and lead is None:
        raise click.ClickException("nothing to change: give --skills and/or --lead")
    with ticket_work() as (_, session, _fx):
        team = update_team(session, team_named(session, name), skills=parse_skills(skills), lead_email=lead)
        view = team_dict(session, team)
    click.echo(f"team {view['name']!r}: skills {', '.join(view['skills']) or 'none'}; lead {view['lead'] or 'none'}")


@teams_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON array.")
def teams_list(as_json: bool) -> None:
    """Every team with its skills, lead and agents."""
    from sqlmodel import Session, col, select

    from hub.tickets import Team
    from hub.tickets.teams import team_dict

    with Session(command_state().engine) as session:
        rows = [team_dict(session, team) for team in session.exec(select(Team).order_by(col(Team.id))).all()]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        click.echo("no teams yet; add one with `hub teams add NAME --skills S1,S2`")
    for row in rows:
        click.echo(f"{row['name']:<12} skills={','.join(row['skills']) or '-':<24} lead={row['lead'] or '-':<24} "
                   f"agents={','.join(row['agents']) or '-'}")
