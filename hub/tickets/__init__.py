"""Service tickets: the conversations a person takes over from the bots (opened by hub.conversation's
hand-off), and how they are listed. Routing, teams, agents and SLA grow here."""

from hub.tickets.listing import list_tickets
from hub.tickets.models import TICKET_ASSIGNED, TICKET_CLOSED, TICKET_OPEN, Ticket

__all__ = ["TICKET_ASSIGNED", "TICKET_CLOSED", "TICKET_OPEN", "Ticket", "list_tickets"]
