"""The operator's knowledge-base proposals (GET/POST /operator/kb/proposals): the fans' questions agents answered
with an entry, proposed as similar questions of that entry, and the questions the bot could not answer with the
agent's answer, proposed as new entries — accepted or rejected many at a time. Accepting changes entries, so the
index is rebuilt once per batch (the new similar questions improve retrieval and calibration from then on)."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from sqlmodel import Session, col, select

from hub.core.db import session_scope
from hub.core.state import HubState
from hub.kb import (
    KbProposal,
    accept_new_entries,
    accept_similar,
    list_similar,
    reject_new_entries,
    reject_similar,
    request_rebuild,
)
from hub.web.operator.blueprint import bp

log = logging.getLogger("hub.web.operator")
PER_PAGE = 100
STATUSES = ("open", "accepted", "rejected")
KINDS = ("similar", "entries")
ACTIONS = ("accept", "reject")


def _hub() -> HubState:
    return current_app.extensions["hub"]


def _page(status: str, page: int, error: str | None = None, code: int = 200) -> Any:
    with Session(_hub().engine) as session:
        similar, total = list_similar(session, status, PER_PAGE, (page - 1) * PER_PAGE)
        entries = session.exec(select(KbProposal).where(KbProposal.status == status)
                               .order_by(col(KbProposal.id).desc()).limit(PER_PAGE)).all() if page == 1 else []
    pages = max(1, -(-total // PER_PAGE))
    return render_template("operator/kb_proposals.html", similar=similar, total=total, entries=entries,
                           status=status, statuses=STATUSES, page=page, pages=pages, error=error), code


@bp.get("/kb/proposals")
def kb_proposals() -> Any:
    """The proposals of one status (open unless ?status= says otherwise), a page of 100 at a time."""
    status = request.args.get("status", "open")
    if status not in STATUSES:
        status = "open"
    return _page(status, max(1, request.args.get("page", 1, type=int) or 1))


def _refuse(reason: str) -> Any:
    log.warning("kb proposals decision refused", extra={"operator_id": current_user.id, "reason": reason})
    return _page("open", 1, reason, 400)


@bp.post("/kb/proposals")
def kb_proposals_decide() -> Any:
    """Accept or reject the ticked proposals of one kind (the CSRF token is checked for every console form)."""
    kind, action = request.form.get("kind", ""), request.form.get("action", "")
    raw = request.form.getlist("ids")
    if kind not in KINDS or action not in ACTIONS:
        return _refuse(gettext("Choose whether to accept or reject the proposals."))
    try:
        ids = sorted({int(value) for value in raw})
    except ValueError:
        return _refuse(gettext("The selection was not understood: reload the page and try again."))
    if not ids:
        return _refuse(gettext("Tick the proposals to accept or reject first."))
    if len(ids) > 500:
        return _refuse(gettext("Decide at most 500 proposals at a time."))
    with session_scope(_hub().engine) as session:
        if kind == "similar":
            result = (accept_similar if action == "accept" else reject_similar)(session, ids, int(current_user.id))
            rebuild = bool(result.get("entries"))
        else:
            result = accept_new_entries(session, ids) if action == "accept" else reject_new_entries(session, ids)
            rebuild = action == "accept" and bool(result["accepted"])
    if rebuild:
        request_rebuild(_hub())  # one rebuild for the whole batch
    done = len(result.get("accepted", result.get("rejected", [])))
    log.info("kb proposals decided", extra={"operator_id": current_user.id, "kind": kind, "action": action,
                                             "done": done, "skipped": len(result["skipped"])})
    message = (gettext("%(count)s accepted; the knowledge base is being re-indexed.", count=done) if rebuild
               else gettext("%(count)s accepted.", count=done) if action == "accept"
               else gettext("%(count)s rejected.", count=done))
    flash(message, "ok")
    for skipped in result["skipped"]:
        flash(gettext("Proposal %(id)s was left as it is: %(reason)s", id=skipped["id"], reason=skipped["reason"]),
              "error")
    return redirect(url_for("operator.kb_proposals"))
