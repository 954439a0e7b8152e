"""The fan beside the conversation: name, channel identities (account, openid, subscribed since, referral scene),
interest tags with the messages that are their evidence, manual tags (an agent adds or removes one; the
classifier never overrides it), and the fan's earlier tickets with their satisfaction scores."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request
from flask_babel import gettext
from sqlmodel import Session, col, select

from hub.core.db import session_scope
from hub.core.models import Account, Fan, Identity, as_utc
from hub.tags import Tag, TagError, interests_of, profiles
from hub.tickets import list_tickets
from hub.web.agent.blueprint import bp
from hub.web.agent.guard import agent_page, hub
from hub.web.agent.queue import account_zones, decorate

EARLIER_TICKETS = 20


def fan_pane(session: Session, fan_id: int, ticket_id: int | None) -> dict[str, Any]:
    """Everything the fan column shows."""
    fan = session.get(Fan, fan_id)
    identities = [
        {"account": account.name or account.key, "account_key": account.key, "channel": account.channel,
         "openid": identity.external_id, "subscribed": identity.subscribed,
         "subscribed_at": as_utc(identity.subscribed_at) if identity.subscribed_at else None,
         "unsubscribed_at": as_utc(identity.unsubscribed_at) if identity.unsubscribed_at else None,
         "referral_scene": identity.referral_scene, "tz": (account.settings or {}).get("timezone")}
        for identity, account in session.exec(
            select(Identity, Account).join(Account, col(Account.id) == Identity.account_id)
            .where(Identity.fan_id == fan_id).order_by(col(Identity.id))).all()
    ]
    tickets, total = list_tickets(session, fan_id=fan_id, limit=EARLIER_TICKETS, sort="newest")
    decorate(session, tickets)
    return {"fan": fan, "identities": identities, "tags": tag_pane(session, fan_id),
            "tickets": tickets, "tickets_total": total, "ticket_id": ticket_id,
            "zones": account_zones(session)}


def tag_pane(session: Session, fan_id: int) -> dict[str, Any]:
    """The fan's tags (automatic with evidence, manual) and the tags an agent may add."""
    interests = interests_of(session, fan_id)
    shown = {t["tag"] for t in interests["tags"]}
    choices = [name for name in session.exec(select(Tag.name).where(col(Tag.deleted_at).is_(None))
                                             .order_by(col(Tag.name))).all() if name not in shown]
    removed = sorted(label for label, on in interests["manual"].items() if on is False)
    return {"fan_id": fan_id, "tags": interests["tags"], "removed": removed, "choices": choices, "error": None}


@bp.post("/fans/<int:fan_id>/tags")
@agent_page
def fan_tag(fan_id: int) -> Any:
    """Add a manual tag (action=add), take one off (remove) or give it back to the classifier (auto)."""
    name = request.form.get("tag", "").strip()
    action = request.form.get("action", "add")
    on = {"add": True, "remove": False, "auto": None}.get(action, True)
    error = None
    try:
        with session_scope(hub().engine) as session:
            profiles.set_manual_tag(session, fan_id, name, on)
    except TagError as exc:
        error = gettext("The tag was not changed: %(reason)s", reason=str(exc))
    if request.headers.get("HX-Request"):
        with Session(hub().engine) as session:
            if session.get(Fan, fan_id) is None:
                return gettext("No such fan."), 404
            pane = tag_pane(session, fan_id)
        pane["error"] = error
        return render_template("agent/_fan_tags.html", tags=pane), 400 if error else 200
    back = request.referrer or ""
    return redirect(back if back.startswith(request.host_url) else "/queue")
