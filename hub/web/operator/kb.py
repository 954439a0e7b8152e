"""The operator's knowledge-base page: entries (search, create, edit, disable) with their hits and "unhelpful"
counts, the questions the bot could not answer with the agents' answers (accept one as an entry), and "try a
question": what the bot would do with a text and why (its action, its top candidates and their confidence).
What the page shows is hub.web.operator.kb_view; import and export are hub.web.operator.kb_files."""

from __future__ import annotations

import logging
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from sqlmodel import Session

from hub.core.db import session_scope
from hub.kb import KbEntry, KbProposal, accept_proposal, request_rebuild
from hub.kb.editing import EntryError, save_entry, set_enabled, split_similar
from hub.web.operator import kb_files  # noqa: F401  (the import and export routes register on bp)
from hub.web.operator.blueprint import bp
from hub.web.operator.kb_view import AcceptForm, EntryForm, kb_page
from hub.web.operator.tags import ConfirmForm, hub_state, valid

log = logging.getLogger("hub.web.operator")


@bp.get("/kb")
def kb() -> Any:
    return kb_page()


def _fields(form: EntryForm) -> dict[str, Any]:
    return {"question": form.question.data, "answer": form.answer.data, "similar": split_similar(form.similar.data),
            "category": form.category.data or "", "link_url": form.link_url.data or "",
            "enabled": bool(form.enabled.data)}


def _refuse(form: EntryForm, exc: EntryError) -> None:
    log.warning("kb entry refused", extra={"operator_id": current_user.id, "reason": str(exc)})
    target = {"link_url": form.link_url, "answer": form.answer}.get(
        next((k for k in ("link_url", "answer") if k in str(exc)), ""), form.question)
    target.errors = [*target.errors, str(exc)]


def _rebuild() -> None:
    if not request_rebuild(hub_state()):
        flash(gettext("The index is rebuilt once the queue (Redis) is back."), "error")


@bp.post("/kb/entries")
def create_entry() -> Any:
    form = EntryForm()
    if not valid(form, "kb entry"):
        return kb_page(form=form, status=400)
    try:
        with session_scope(hub_state().engine) as session:
            entry_id = save_entry(session, _fields(form)).id
    except EntryError as exc:
        _refuse(form, exc)
        return kb_page(form=form, status=400)
    _rebuild()
    log.info("kb entry created", extra={"operator_id": current_user.id, "entry_id": entry_id})
    flash(gettext("Entry added; the bot uses it within seconds."), "ok")
    return redirect(url_for("operator.kb_entry", entry_id=entry_id))


def _entry_page(entry_id: int, form: EntryForm | None = None, status: int = 200) -> Any:
    with Session(hub_state().engine) as session:
        entry = session.get(KbEntry, entry_id)
        if entry is None:
            abort(404, description=gettext("There is no such entry."))
        form = form or EntryForm(formdata=None, question=entry.question, answer=entry.answer,
                                 similar="\n".join(entry.similar or []), category=entry.category,
                                 link_url=entry.link_url or "", enabled=entry.enabled)
    return render_template("operator/kb_entry.html", entry=entry, form=form, confirm=ConfirmForm(formdata=None)), status


@bp.get("/kb/entries/<int:entry_id>")
def kb_entry(entry_id: int) -> Any:
    return _entry_page(entry_id)


@bp.post("/kb/entries/<int:entry_id>")
def edit_entry(entry_id: int) -> Any:
    form = EntryForm()
    if not valid(form, "kb entry"):
        return _entry_page(entry_id, form=form, status=400)
    try:
        with session_scope(hub_state().engine) as session:
            if session.get(KbEntry, entry_id) is None:
                abort(404, description=gettext("There is no such entry."))
            save_entry(session, _fields(form), entry_id)
    except EntryError as exc:
        _refuse(form, exc)
        return _entry_page(entry_id, form=form, status=400)
    _rebuild()
    log.info("kb entry changed", extra={"operator_id": current_user.id, "entry_id": entry_id})
    flash(gettext("Entry saved; the bot uses it within seconds."), "ok")
    return redirect(url_for("operator.kb_entry", entry_id=entry_id))


@bp.post("/kb/entries/<int:entry_id>/toggle")
def toggle_entry(entry_id: int) -> Any:
    if not valid(ConfirmForm(), "confirm"):
        abort(400)
    try:
        with session_scope(hub_state().engine) as session:
            entry = session.get(KbEntry, entry_id)
            if entry is None:
                abort(404, description=gettext("There is no such entry."))
            enabled = set_enabled(session, entry_id, not entry.enabled).enabled
    except EntryError:
        abort(404, description=gettext("There is no such entry."))
    _rebuild()
    log.info("kb entry toggled", extra={"operator_id": current_user.id, "entry_id": entry_id, "enabled": enabled})
    flash(gettext("Entry enabled.") if enabled else gettext("Entry disabled: the bot no longer answers with it."), "ok")
    return redirect(request.referrer if (request.referrer or "").startswith(request.host_url)
                    else url_for("operator.kb"))


@bp.post("/kb/proposals/<int:proposal_id>/accept")
def accept_kb_proposal(proposal_id: int) -> Any:
    form = AcceptForm()
    if not valid(form, "accept kb proposal"):
        flash(gettext("A new entry needs a question and an answer."), "error")
        return redirect(url_for("operator.kb") + "#proposals")
    try:
        with session_scope(hub_state().engine) as session:
            if session.get(KbProposal, proposal_id) is None:
                abort(404, description=gettext("There is no such question."))
            entry_id = accept_proposal(session, proposal_id, form.question.data, form.answer.data).id
    except (LookupError, ValueError) as exc:
        log.warning("kb proposal refused", extra={"operator_id": current_user.id, "reason": str(exc)})
        flash(gettext("The question was not accepted: %(reason)s", reason=str(exc)), "error")
        return redirect(url_for("operator.kb") + "#proposals")
    _rebuild()
    log.info("kb proposal accepted", extra={"operator_id": current_user.id, "proposal_id": proposal_id})
    flash(gettext("Accepted as a new entry."), "ok")
    return redirect(url_for("operator.kb_entry", entry_id=entry_id))
