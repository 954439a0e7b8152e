"""Live: what an open page must refresh, and the user's notifications.

Every ticket, message, presence and notification change is published with a sequence number in Redis
(hub.tickets.effects), whichever process made it. A page remembers the number it was rendered at and polls
GET /live?since=N&ticket=T every second: the answer says whether the queue, the open ticket or the notifications
changed (and which tickets were just assigned to the reader), and the page re-fetches only those parts. Web
processes share nothing but Redis and the database, so this works with any number of them.

A page showing only the reader's own tickets (`mine=1`, with the ids it shows in `shown`) refreshes its list only
for changes to those tickets or to tickets of the reader's — with many agents and a busy hub, most changes concern
someone else, and re-rendering every agent's list for each of them would cost more than the rest together."""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import jsonify, render_template, request
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy import func
from sqlmodel import Session, col, select

from hub.tickets.effects import changes_since
from hub.tickets.models import Agent, Notification
from hub.tickets.notify import unread
from hub.web.agent.blueprint import bp
from hub.web.agent.guard import agent_page, hub, me
from hub.web.agent.present import presence_label

log = logging.getLogger("hub.web.agent")
NOTIFICATIONS_SHOWN = 20
PRESENCE = ("online", "away", "offline")
MAX_SHOWN = 200  # ids a page may name in `shown`
LIVE_GAP = 20  # this many updates counted but none logged: the log is gone, refresh everything


def current_seq() -> int:
    """The live sequence number now (0 when Redis cannot say: the first poll then refreshes what changed)."""
    try:
        return changes_since(hub(), 1 << 62)[0]
    except redis.RedisError:
        return 0


def topbar(session: Session, user_id: int) -> dict[str, Any]:
    """The agent's presence (None for an admin who is no agent) and unread notifications, for the top bar."""
    agent = session.get(Agent, user_id)
    notes = unread(session, user_id, limit=NOTIFICATIONS_SHOWN)
    count = len(notes) if len(notes) < NOTIFICATIONS_SHOWN else _unread_count(session, user_id)
    return {"presence": agent.status if agent else None, "notifications": notes, "unread": count,
            "presence_choices": [(s, presence_label(s)) for s in PRESENCE], "seq": current_seq()}


def _unread_count(session: Session, user_id: int) -> int:
    return int(session.exec(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, col(Notification.read_at).is_(None))).one())


@bp.get("/live")
@agent_page
def live() -> Any:
    """What changed since `since`: {seq, queue, ticket, notifications, unread, assigned: [ticket ids]};
    `ticket` concerns the ticket `ticket`; `reset` when the updates in between are gone (Redis restarted or the log
    was trimmed)."""
    since = request.args.get("since", 0, type=int)
    ticket = request.args.get("ticket", type=int)
    mine_only = request.args.get("mine") == "1"
    shown = {int(n) for n in request.args.get("shown", "").split(",")[:MAX_SHOWN] if n.isdigit()}
    user = me()
    try:
        now, updates = changes_since(hub(), since)
    except redis.RedisError as exc:
        log.warning("live updates unavailable", extra={"error": type(exc).__name__})
        return jsonify(error=gettext("Live updates are unavailable; retrying.")), 503
    seqs = [int(update.get("seq", 0)) for update in updates]
    # A gap: an update counted but not logged yet (another process is between INCR and ZADD), or trimmed away.
    reset = now < since or (bool(seqs) and seqs != list(range(since + 1, since + 1 + len(seqs))))
    if seqs:
        now = max(seqs)
    elif now > since:  # counted, not logged yet: ask again from here (unless the log is gone: start over)
        reset, now = (True, now) if now - since > LIVE_GAP else (False, since)
    out: dict[str, Any] = {"seq": now, "reset": reset, "queue": reset, "ticket": reset, "notifications": reset,
                           "assigned": []}
    for update in updates:
        kind = str(update.get("type", ""))
        if kind == "message.delivery":  # a reply went out or failed: the open ticket shows its new state
            if ticket is not None and update.get("ticket_id") == ticket:
                out["ticket"] = True
            continue
        if kind.startswith("ticket."):
            if not mine_only or update.get("ticket_id") in shown or update.get("source_id") in shown or user in (
                    update.get("assignee_id"), update.get("agent_id")):
                out["queue"] = True
            if ticket is not None and ticket in (update.get("ticket_id"), update.get("source_id")):
                out["ticket"] = True
            if kind == "ticket.assigned" and update.get("assignee_id") == user:
                out["assigned"].append(update.get("ticket_id"))
        elif kind == "notification" and update.get("user_id") == user:
            out["notifications"] = True
    if out["notifications"]:
        with Session(hub().engine) as session:
            out["unread"] = _unread_count(session, user)
    return jsonify(out)


@bp.get("/notifications")
@agent_page
def notifications() -> Any:
    """The unread notifications as the bell's list shows them (HTML, for the page to swap in)."""
    with Session(hub().engine) as session:
        bar = topbar(session, me())
    return render_template("agent/_notifications.html", bar=bar, user=current_user)
