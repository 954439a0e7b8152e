"""The agent's pages: the queue (GET /queue) and a ticket's workspace (GET /tickets/<id>: the queue beside it, the
conversation, the fan), and the parts a page re-fetches when something changed (?part=list, ?part=live) or when
the agent scrolls back (GET /tickets/<id>/older)."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, request
from flask_babel import gettext
from flask_login import current_user
from sqlmodel import Session

from hub.tickets import list_tickets
from hub.tickets.models import Agent, Ticket
from hub.web.agent.blueprint import bp
from hub.web.agent.fan import EARLIER_TICKETS, fan_pane
from hub.web.agent.guard import agent_page, hub, me
from hub.web.agent.live import topbar
from hub.web.agent.present import (
    channel_label,
    delivery_problem,
    event_line,
    intent_label,
    phrase,
    presence_label,
    priority_label,
    status_label,
    wechat_event,
)
from hub.web.agent.queue import NARROW_PER_PAGE, SORTS, STATUS_CHOICES, QueueFilters, decorate, default_tab, load_queue
from hub.web.agent.replybox import canned_for, limits, merge_choices, permitted, transfer_choices
from hub.web.agent.thread import history


class Labels:
    """The translated names the templates show (`labels.status("open")`)."""

    status = staticmethod(status_label)
    priority = staticmethod(priority_label)
    intent = staticmethod(intent_label)
    channel = staticmethod(channel_label)
    phrase = staticmethod(phrase)
    presence = staticmethod(presence_label)
    event = staticmethod(event_line)
    wechat_event = staticmethod(wechat_event)
    delivery = staticmethod(delivery_problem)

    @staticmethod
    def tab(tab: str) -> str:
        return {"mine": gettext("Mine"), "team": gettext("My team's"), "unassigned": gettext("Unassigned"),
                "all": gettext("All")}.get(tab, tab)


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {"labels": Labels}


def _filters(session: Session) -> QueueFilters:
    is_agent = session.get(Agent, me()) is not None
    return QueueFilters.from_args(request.args, default_tab(current_user.role, is_agent))


def _strings() -> dict[str, str]:
    """What agent.js says, in the reader's language."""
    return {
        "assigned": gettext("Ticket %(number)s was assigned to you", number="#{id}"),
        "confirm_resolve": gettext("Resolve this ticket? The fan will be asked to rate the service."),
        "sending": gettext("Sending…"), "sent": gettext("Sent."), "noted": gettext("Note added."),
        "failed": gettext("Not done: %(reason)s", reason="{reason}"),
        "network": gettext("The hub could not be reached; nothing was sent. Try again."),
        "no_kb": gettext("No suggestions: the knowledge base has no index yet."),
        "no_suggestions": gettext("No suggestions for this conversation."),
        "loading": gettext("Loading…"), "insert": gettext("Insert"),
        "confidence": gettext("match %(percent)s%%", percent="{percent}"),
        "live_down": gettext("Live updates paused; retrying…"),
        "pick_target": gettext("Choose an agent or a team."),
        "confirm_merge": gettext("Merge this ticket into %(number)s? It will be closed.", number="#{id}"),
        "mark_answer": gettext("Mark as the answer"), "marked": gettext("Marked as the answer"),
    }


@bp.get("/queue")
@agent_page
def queue() -> Any:
    """The queue: tabs with counts, filters, search, one page of tickets."""
    narrow = request.args.get("narrow") == "1"
    with Session(hub().engine) as session:
        filters = _filters(session)
        data = load_queue(session, me(), filters, per_page=NARROW_PER_PAGE if narrow else 50)
        if request.args.get("part") == "list":
            return render_template("agent/_queue_list.html", q=data, filters=filters, narrow=narrow,
                                   current=request.args.get("current", type=int))
        bar = topbar(session, me())
    return render_template("agent/queue.html", q=data, filters=filters, narrow=False, current=None, bar=bar,
                           statuses=STATUS_CHOICES, sorts=SORTS, strings=_strings())


def _ticket_row(session: Session, ticket_id: int) -> tuple[dict[str, Any], Ticket]:
    rows, _ = list_tickets(session, q=f"#{ticket_id}", limit=1)
    ticket = session.get(Ticket, ticket_id)
    if not rows or ticket is None:
        number = "#" + str(ticket_id)
        abort(404, description=gettext("No ticket %(number)s.", number=number))
    decorate(session, rows)
    return rows[0], ticket


def _box(session: Session, row: dict[str, Any], ticket: Ticket,
         fan_tickets: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The reply box's figures and the actions (with their choices) the user may take."""
    may = permitted(session, me(), current_user.role, ticket)
    if may["merge"] and fan_tickets is None:
        fan_tickets = list_tickets(session, fan_id=ticket.fan_id, limit=EARLIER_TICKETS)[0]
    return {"limits": limits(session, ticket, row["channel"]), "may": may,
            "choices": transfer_choices(session) if may["transfer"] else None,
            "merge": merge_choices(fan_tickets or [], ticket.id) if may["merge"] else []}


@bp.get("/tickets/<int:ticket_id>")
@agent_page
def ticket(ticket_id: int) -> Any:
    """A ticket's workspace; ?part=live gives the parts that change (head, newest messages, reply state)."""
    with Session(hub().engine) as session:
        row, ticket = _ticket_row(session, ticket_id)
        if request.args.get("part") == "live":
            chunk = history(session, ticket.fan_id, ticket_id, from_id=request.args.get("from", type=int))
            return render_template("agent/_ticket_live.html", t=row, chunk=chunk, box=_box(session, row, ticket),
                                   filters=_filters(session))
        filters = _filters(session)
        chunk = history(session, ticket.fan_id, ticket_id)
        data = load_queue(session, me(), filters, per_page=NARROW_PER_PAGE)
        fan = fan_pane(session, ticket.fan_id, ticket_id)
        box = _box(session, row, ticket, fan["tickets"])
        box["canned"] = canned_for(session, row["fan_name"], ticket_id, current_user.display_name)
        bar = topbar(session, me())
    return render_template("agent/ticket.html", t=row, chunk=chunk, q=data, filters=filters, narrow=True,
                           current=ticket_id, fan=fan, box=box, bar=bar, strings=_strings())


@bp.get("/tickets/<int:ticket_id>/older")
@agent_page
def older(ticket_id: int) -> Any:
    """The page of the fan's history before message `before` (with the ticket's events of that time)."""
    before = request.args.get("before", type=int)
    if before is None:
        abort(400, description=gettext("Say which message to go back from (before=<id>)."))
    with Session(hub().engine) as session:
        row, ticket = _ticket_row(session, ticket_id)
        chunk = history(session, ticket.fan_id, ticket_id, before=before)
    return render_template("agent/_thread_chunk.html", t=row, chunk=chunk)
