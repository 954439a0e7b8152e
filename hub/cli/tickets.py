"""`hub tickets`: list, show, assign and resolve service tickets from a terminal; and `ticket_work`, the one way
the ticket commands (here, `hub teams`, `hub agents`) change tickets: commit, then run the effects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from hub.cli.common import command_state

if TYPE_CHECKING:
    from sqlmodel import Session

    from hub.core.state import HubState
    from hub.tickets import Effects

# The values the tables accept (hub.tickets.models.STATUSES, PRESENCE; tests/cli checks they agree), spelled out
# so that `hub --help` need not import the database layer.
STATUSES = ("open", "assigned", "waiting", "resolved", "closed")
PRESENCE = ("online", "away", "offline")


@contextmanager
def ticket_work() -> Iterator[tuple[HubState, Session, Effects]]:
    """A transaction for a ticket change: committed, then its effects run (routing jobs, sends, live updates);
    a refused change (hub.tickets.TicketError) rolls back and exits non-zero with its reason."""
    from hub.core.db import session_scope
    from hub.tickets import Effects, TicketError, run_effects

    state = command_state()
    fx = Effects()
    try:
        with session_scope(state.engine) as session:
            yield state, session, fx
    except TicketError as exc:
        raise click.ClickException(exc.message) from exc
    run_effects(state, fx)


def agent_id_for(session: Session, email: str) -> int:
    """The user id of the agent with this e-mail (NotFound otherwise)."""
    from sqlmodel import select

    from hub.core.models import User
    from hub.tickets import Agent, NotFound

    user = session.exec(select(User).where(User.email == email.strip().lower())).first()
    if user is None:
        raise NotFound(f"no user {email}")
    if session.get(Agent, user.id) is None:
        raise NotFound(f"{email} is not an agent; add them with `hub agents add {email} --team NAME`")
    return int(user.id)  # type: ignore[arg-type]


@click.group("tickets")
def tickets_group() -> None:
    """Service tickets: the conversations people take over from the bots."""


@tickets_group.command("list")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only tickets in this state.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array.")
def tickets_list(status: str | None, as_json: bool) -> None:
    """Every ticket, oldest first: id, fan, status, assignee (an e-mail or null), team, priority, intent."""
    from hub.tickets import all_tickets

    rows = all_tickets(command_state(), status)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, default=str))
        return
    for row in rows:
        click.echo(f"#{row['id']:<6} {row['status']:<9} fan={row['fan']!s:<6} "
                   f"assignee={row.get('assignee') or '-':<24} team={row.get('team') or '-'} "
                   f"priority={row.get('priority')} intent={row.get('intent') or '-'}  {row.get('subject') or ''}")


@tickets_group.command("show")
@click.argument("ticket_id", metavar="ID", type=int)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def tickets_show(ticket_id: int, as_json: bool) -> None:
    """One ticket with its conversation (each delivery's outcome) and its event log."""
    from sqlmodel import Session

    from hub.tickets import TicketError, ticket_detail

    with Session(command_state().engine) as session:
        try:
            view = ticket_detail(session, ticket_id)
        except TicketError as exc:
            raise click.ClickException(exc.message) from exc
    if as_json:
        click.echo(json.dumps(view, ensure_ascii=False, default=str))
        return
    fan = f"{view['fan']} {view.get('fan_name') or ''}".rstrip()
    click.echo(f"ticket #{view['id']}  {view['status']}  priority {view['priority']}  fan {fan}  "
               f"team {view['team'] or '-'}  assignee {view['assignee'] or '-'}")
    click.echo(f"subject: {view['subject']}   intent: {view['intent'] or '-'}   opened {view['created_at']}")
    click.echo(f"due: first response {view['first_response_due']}, resolution {view['resolution_due']}; "
               f"48-hour window closes {view['window_closes_at'] or '-'}")
    for message in view["messages"]:
        who = {"fan": "fan  >"}.get(message["source"], f"{message['agent'] or message['source']} <")
        click.echo(f"  {message['sent_at']}  {who} {message['text']}  [{message['status']}]")
    for event in view["events"]:
        data = json.dumps(event["data"], ensure_ascii=False) if event["data"] else ""
        click.echo(f"  {event['created_at']}  {event['kind']:<15} {event['actor'] or 'hub'}  {event['text']} {data}"
                   .rstrip())


@tickets_group.command("assign")
@click.argument("ticket_id", metavar="ID", type=int)
@click.argument("email")
def tickets_assign(ticket_id: int, email: str) -> None:
    """Assign (or transfer) a ticket to an agent; the agent's capacity still holds."""
    from hub.tickets.lifecycle import lock_ticket
    from hub.tickets.routing import assign_to

    with ticket_work() as (_, session, fx):
        agent_id = agent_id_for(session, email)
        assign_to(session, lock_ticket(session, ticket_id), agent_id, None, fx)
    click.echo(f"ticket {ticket_id} assigned to {email.strip().lower()}")


@tickets_group.command("resolve")
@click.argument("ticket_id", metavar="ID", type=int)
def tickets_resolve(ticket_id: int) -> None:
    """Resolve a ticket: the agent's capacity frees (waiting tickets are routed), the fan gets the survey."""
    from hub.tickets import RESOLVED, Conflict
    from hub.tickets.lifecycle import lock_ticket, set_status

    with ticket_work() as (state, session, fx):
        ticket = lock_ticket(session, ticket_id)
        if ticket.status == RESOLVED:
            raise Conflict(f"ticket {ticket_id} is resolved already")
        set_status(session, state.config, ticket, RESOLVED, None, fx)  # the fan's survey goes with it
    click.echo(f"ticket {ticket_id} resolved")
