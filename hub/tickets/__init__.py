"""Tickets: the conversations people take over from the bots. Their life and event log (`lifecycle`), teams and
agents (`teams`), presence (`presence`), routing (`routing`, `jobs`), SLA and escalation (`sla`), agent work
(`work`: replies and notes; `canned`: canned replies), who may do what (`permissions`), satisfaction surveys
(`csat`), listing (`listing`).

Functions take a session and an `Effects`; the caller commits, then `run_effects` enqueues the jobs and
publishes the live updates they asked for."""

from hub.tickets.effects import Effects
from hub.tickets.errors import Conflict, Forbidden, NotFound, TicketError
from hub.tickets.fan_messages import holds_fan, take_fan_message
from hub.tickets.fans import merge_fan_tickets, split_fan_tickets, ticket_counts
from hub.tickets.jobs import run_effects
from hub.tickets.lifecycle import Opening, open_or_join
from hub.tickets.listing import all_tickets, list_tickets, ticket_detail
from hub.tickets.models import (
    ACTIVE,
    ASSIGNED,
    CLOSED,
    OPEN,
    RESOLVED,
    TICKET_ASSIGNED,
    TICKET_CLOSED,
    TICKET_OPEN,
    WAITING,
    Agent,
    Team,
    Ticket,
)
from hub.tickets.permissions import check as check_permission
from hub.tickets.teams import priority_for, team_for
from hub.tickets.work import add_note, reply

__all__ = [
    "ACTIVE", "ASSIGNED", "CLOSED", "OPEN", "RESOLVED", "TICKET_ASSIGNED", "TICKET_CLOSED", "TICKET_OPEN",
    "WAITING", "Agent", "Conflict", "Effects", "Forbidden", "NotFound", "Opening", "Team", "Ticket", "TicketError",
    "holds_fan", "list_tickets", "open_or_join", "priority_for", "run_effects", "take_fan_message", "team_for",
    "add_note", "all_tickets", "check_permission", "reply", "ticket_detail",
    "merge_fan_tickets", "split_fan_tickets", "ticket_counts",
]
