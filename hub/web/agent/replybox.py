"""The reply box and the ticket's actions: what WeChat still allows (the 48-hour window and the 5-message quota,
shown before sending), the canned replies rendered for this ticket, and which actions the signed-in user may take
(hub.tickets.permissions decides; the console shows only those buttons), with the choices of transfer and merge.

The writes themselves go to the JSON API (/api/v1/tickets/...), which checks everything again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from hub.core.models import IN, Message, User, as_utc, utcnow
from hub.tickets import TicketError
from hub.tickets.canned import list_canned, render
from hub.tickets.csat import QUOTA, quota_used
from hub.tickets.lifecycle import MOVES
from hub.tickets.models import ACTIVE, Agent, Team, Ticket
from hub.tickets.permissions import allowed
from hub.tickets.sla import WINDOW
from hub.tickets.work import WINDOW_CHANNELS, WINDOW_EVENTS
from hub.web.agent.present import span

ACTIONS = ("take", "reply", "note", "status", "resolve", "transfer", "merge")
# The moves a console offers from each status (hub.tickets.lifecycle refuses the others with a 409).
@dataclass(frozen=True)
class Limits:
    """What WeChat still takes from the hub for this fan on this account."""

    applies: bool  # a WeChat account: the window and the quota hold
    closes_at: datetime | None
    left: str  # the time left, as the reader writes it
    quota_left: int
    open: bool  # the window is open and there is quota
    quota: int = QUOTA

    @property
    def level(self) -> str:
        if not self.applies:
            return "ok"
        if not self.open:
            return "bad"
        return "warn" if self.quota_left <= 1 or (self.closes_at and (self.closes_at - utcnow()).total_seconds()
                                                   < 4 * 3600) else "ok"


def limits(session: Session, ticket: Ticket, channel: str) -> Limits:
    """The window (from the fan's last message that opens it) and the quota left (5 minus the customer-service
    messages sent since), as hub.tickets.work checks them on sending."""
    if channel not in WINDOW_CHANNELS:
        return Limits(False, None, "", QUOTA, True)
    opens = or_(Message.kind != "event", col(Message.event).in_(WINDOW_EVENTS))
    last_in = session.exec(select(Message).where(
        Message.fan_id == ticket.fan_id, Message.account_id == ticket.account_id, Message.direction == IN, opens,
    ).order_by(col(Message.id).desc()).limit(1)).first()
    if last_in is None:
        return Limits(True, None, "", 0, False)
    last = max(filter(None, (ticket.last_fan_message_at and as_utc(ticket.last_fan_message_at),
                             as_utc(last_in.sent_at))))
    closes = last + WINDOW
    now = utcnow()
    quota_left = max(0, QUOTA - quota_used(session, last_in))
    return Limits(True, closes, span(closes - now) if closes > now else "", quota_left,
                  closes > now and quota_left > 0)


def permitted(session: Session, user_id: int, role: str, ticket: Ticket) -> dict[str, bool]:
    """Which actions to show: permissions first, then what the ticket's state allows."""
    may = {action: allowed(session, user_id, role, ticket, action) for action in ACTIONS}
    active = ticket.status in ACTIVE
    is_agent = session.get(Agent, user_id) is not None
    return {
        "take": may["take"] and active and is_agent and ticket.assignee_id != user_id,
        "reply": may["reply"] and active,
        "note": may["note"],
        "transfer": may["transfer"] and active,
        "merge": may["merge"] and ticket.status != "closed",
        "resolve": may["resolve"] and "resolved" in MOVES.get(ticket.status, ()),
        "moves": [m for m in MOVES.get(ticket.status, ()) if m != "resolved" and may["status"]],
    }


def canned_for(session: Session, fan_name: str, ticket_id: int, agent_name: str) -> list[dict[str, Any]]:
    """Every canned reply with its text rendered for this ticket (placeholders filled)."""
    out = []
    for canned in list_canned(session):
        try:
            text = render(canned["text"], fan_name=fan_name, ticket_id=ticket_id, agent_name=agent_name)
        except TicketError:  # saved before a placeholder was refused: leave it out rather than send braces
            continue
        out.append({"shortcut": canned["shortcut"], "text": text})
    return out


def transfer_choices(session: Session) -> dict[str, list[dict[str, Any]]]:
    """The agents (with status and load) and teams a ticket can go to."""
    agents = [{"email": user.email, "name": user.display_name or user.email, "status": agent.status,
               "load": agent.load, "capacity": agent.capacity}
              for user, agent in session.exec(select(User, Agent).join(Agent, col(Agent.user_id) == User.id)
                                              .where(col(User.active).is_(True)).order_by(col(User.email))).all()]
    teams = [{"id": tid, "name": name} for tid, name in session.exec(select(Team.id, Team.name)
                                                                      .order_by(col(Team.name))).all()]
    return {"agents": agents, "teams": teams}


def merge_choices(fan_tickets: list[dict[str, Any]], ticket_id: int) -> list[dict[str, Any]]:
    """The fan's other tickets this one may be folded into (closed ones never merge)."""
    return [t for t in fan_tickets if t["id"] != ticket_id and t["status"] != "closed"]
