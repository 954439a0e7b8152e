"""What the operator's knowledge-base page shows and its forms: entries (searched, paged), the import form, the
questions the bot could not answer, and "try a question" — what the bot would do with a text and why."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlmodel import Session
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from hub.kb import kb_service
from hub.kb.entries import open_proposals, search_entries
from hub.web.operator.tags import ConfirmForm, hub_state

PAGE = 50


class EntryForm(FlaskForm):
    question = StringField(lazy_gettext("Standard question"), validators=[DataRequired(), Length(max=4000)])
    similar = TextAreaField(lazy_gettext("Similar questions (one per line)"), validators=[Optional(),
                                                                                          Length(max=40000)])
    answer = TextAreaField(lazy_gettext("Answer"), validators=[DataRequired(), Length(max=4000)])
    category = StringField(lazy_gettext("Category"), validators=[Optional(), Length(max=100)])
    link_url = StringField(lazy_gettext("Link (optional)"), validators=[Optional(), Length(max=1000)])
    enabled = BooleanField(lazy_gettext("Enabled"), default=True)


class AcceptForm(FlaskForm):
    question = StringField(lazy_gettext("The fan's question"), validators=[DataRequired(), Length(max=4000)])
    answer = TextAreaField(lazy_gettext("Answer"), validators=[DataRequired(), Length(max=4000)])


class ImportForm(FlaskForm):
    file = FileField(lazy_gettext("File (.jsonl, .csv or .xlsx)"), validators=[
        FileRequired(message=lazy_gettext("Choose a file to import."))])
    replace = BooleanField(lazy_gettext("Replace: disable the entries that are not in the file"))


class TryForm(FlaskForm):
    class Meta:
        csrf = False  # a read-only GET: nothing changes

    ask = StringField(lazy_gettext("A fan asks"), validators=[DataRequired(), Length(max=2000)])


def _try(text: str) -> dict[str, Any]:
    """What the FAQ bot would do with `text`: its action and top candidates (entry, question, confidence)."""
    kb = kb_service(hub_state(), wait=True)  # the newest index, even right after an edit
    if kb is None:
        return {"text": text, "action": None, "hits": []}
    decision = kb.decide(text)
    hits = []
    for hit in decision.hits:
        entry = kb.entry(hit.entry_id) or {}
        hits.append({"entry_id": hit.entry_id, "id": entry.get("id"), "question": entry.get("question", ""),
                     "answer": entry.get("answer", ""), "matched": getattr(hit, "matched", ""),
                     "confidence": float(hit.confidence)})
    return {"text": text, "action": decision.action, "hits": hits}


def kb_page(form: EntryForm | None = None, import_form: Any = None, status: int = 200) -> Any:
    query = request.args.get("q", "").strip()[:200]
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    asked = "ask" in request.args
    try_form = TryForm(formdata=request.args if asked else None)
    answer = _try(try_form.ask.data.strip()) if asked and try_form.validate() else None
    with Session(hub_state().engine) as session:
        entries, total = search_entries(session, query, limit=PAGE, offset=(page - 1) * PAGE)
        proposals = open_proposals(session)
    return render_template(
        "operator/kb.html", entries=entries, total=total, page=page, pages=max((total + PAGE - 1) // PAGE, 1),
        query=query, form=form or EntryForm(formdata=None),
        import_form=import_form or ImportForm(formdata=None), try_form=try_form, answer=answer,
        proposals=proposals, accept_forms={p.id: AcceptForm(formdata=None, question=p.question, answer=p.answer)
                                           for p in proposals},
        confirm=ConfirmForm(formdata=None)), status
