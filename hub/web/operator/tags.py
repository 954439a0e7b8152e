"""The operator's tag pages: every tag with its fans and their trend (new fans tagged per week), creating a tag,
one tag's page to change its description and seed keywords, merge it into another or delete it, with the
messages that most recently earned it."""

from __future__ import annotations

import logging
import time
from datetime import date, datetime, timedelta
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func
from sqlmodel import Session, col, select
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from hub.core.db import session_scope
from hub.core.models import Message, utcnow
from hub.core.state import HubState
from hub.reports.models import ReportInterestSnapshot
from hub.tags import FanTag, Tag, TagError, create_tag, delete_tag, merge_tags, request_training, update_tag
from hub.web.admin.forms import options
from hub.web.operator.blueprint import bp

log = logging.getLogger("hub.web.operator")
WEEKS = 8
STATS_TTL = 60.0
_STATS_KEY = "operator_tag_figures"
RECENT = 20
KIND_LABELS = {"interest": lazy_gettext("Interest"), "manual": lazy_gettext("Manual"),
               "system": lazy_gettext("System")}


class TagForm(FlaskForm):
    name = StringField(lazy_gettext("Tag name"), validators=[DataRequired(), Length(max=30)])
    kind = SelectField(lazy_gettext("Kind"), choices=options(KIND_LABELS.items()), default="interest")
    description = TextAreaField(lazy_gettext("Description"), validators=[Optional(), Length(max=500)])
    keywords = StringField(lazy_gettext("Seed keywords (separated by commas)"),
                           validators=[Optional(), Length(max=2000)])


class TagEditForm(FlaskForm):
    description = TextAreaField(lazy_gettext("Description"), validators=[Optional(), Length(max=500)])
    keywords = StringField(lazy_gettext("Seed keywords (separated by commas)"),
                           validators=[Optional(), Length(max=2000)])


class MergeForm(FlaskForm):
    target = SelectField(lazy_gettext("Merge into"), choices=[], coerce=int)


class ConfirmForm(FlaskForm):
    """A button that changes one thing: only the CSRF token."""


def hub_state() -> HubState:
    return current_app.extensions["hub"]


def valid(form: FlaskForm, what: str) -> bool:
    """Validate a posted form; a refusal is logged with the fields and their errors (the page shows them)."""
    if form.validate():
        return True
    log.warning("operator form refused", extra={"operator_id": current_user.id, "form": what,
                                                "errors": {k: [str(e) for e in v] for k, v in form.errors.items()}})
    return False


def split_words(text: str | None) -> list[str]:
    """'口红, 粉底，眼影' → ['口红', '粉底', '眼影'] (ASCII or Chinese commas)."""
    return [w.strip() for w in (text or "").replace("，", ",").replace("、", ",").split(",") if w.strip()]


def _trends(session: Session, now: datetime | None = None) -> dict[int, list[int]]:
    """Per interest tag, its fans in each of the last WEEKS weeks, oldest first: read from the weekly counts the
    dashboards keep (hub.reports, one row per week, account and tag), not counted here — a scan of every fan's
    tags would take seconds over a million fans. A fan on two accounts counts on each."""
    today = (now or utcnow()).date()
    monday = today - timedelta(days=today.weekday())
    weeks = [monday - timedelta(weeks=WEEKS - 1 - i) for i in range(WEEKS)]
    position = {week: i for i, week in enumerate(weeks)}
    snap = ReportInterestSnapshot
    rows = session.exec(select(snap.tag_id, snap.week, func.sum(snap.fans))  # type: ignore[call-overload]
                        .where(col(snap.week) >= weeks[0] - timedelta(days=1)).group_by(snap.tag_id, snap.week)).all()
    out: dict[int, list[int]] = {}
    for tag_id, week, fans in rows:
        week = week if isinstance(week, date) else date.fromisoformat(str(week)[:10])
        nearest = min(position, key=lambda w: abs((w - week).days))  # weeks start on the hub's local Monday
        if abs((nearest - week).days) <= 1:
            out.setdefault(tag_id, [0] * WEEKS)[position[nearest]] = int(fans or 0)
    return out


def sparkline(values: list[int], width: int = 96, height: int = 20) -> str:
    """An SVG polyline's points for `values` (the template draws it)."""
    top = max(values) or 1
    step = width / max(len(values) - 1, 1)
    return " ".join(f"{i * step:.1f},{height - 2 - (v / top) * (height - 4):.1f}" for i, v in enumerate(values))


def _figures(session: Session) -> tuple[dict[int, int], dict[int, list[int]], datetime]:
    """Every tag's fans and trend, kept for STATS_TTL seconds per process: over a million fans both are scans of
    the FanTag table, and they move slowly. A change made on these pages forgets them (forget_figures)."""
    cached = hub_state().caches.get(_STATS_KEY)
    if cached is not None and time.monotonic() - cached[0] < STATS_TTL:
        return cached[1], cached[2], cached[3]
    now = utcnow()
    counts = dict(session.exec(select(FanTag.tag_id, func.count()).where(col(FanTag.active).is_(True))
                               .group_by(FanTag.tag_id)).all())
    trends = _trends(session, now)
    hub_state().caches[_STATS_KEY] = (time.monotonic(), counts, trends, now)
    return counts, trends, now


def forget_figures() -> None:
    hub_state().caches.pop(_STATS_KEY, None)


def _list_page(form: TagForm, status: int = 200) -> Any:
    with Session(hub_state().engine) as session:
        tags = session.exec(select(Tag).where(col(Tag.deleted_at).is_(None)).order_by(col(Tag.id))).all()
        counts, trends, as_of = _figures(session)
    rows = [{"tag": t, "fans": counts.get(t.id, 0), "trend": trends.get(t.id, [0] * WEEKS)} for t in tags]
    return render_template("operator/tags.html", rows=rows, form=form, kinds=KIND_LABELS, sparkline=sparkline,
                           weeks=WEEKS, as_of=as_of), status


@bp.get("/tags")
def tags() -> Any:
    return _list_page(TagForm(formdata=None))


def _retrain(kind: str) -> None:
    forget_figures()
    if kind == "interest":  # the label set and the cold-start keywords follow the taxonomy
        request_training(hub_state(), "interest")


@bp.post("/tags")
def create_tag_page() -> Any:
    form = TagForm()
    if not valid(form, "create tag"):
        return _list_page(form, 400)
    try:
        with session_scope(hub_state().engine) as session:
            tag = create_tag(session, form.name.data, form.kind.data, form.description.data or "",
                             split_words(form.keywords.data))
            name, kind, tag_id = tag.name, tag.kind, tag.id
    except TagError as exc:
        log.warning("tag refused", extra={"operator_id": current_user.id, "reason": str(exc)})
        form.name.errors = [*form.name.errors, str(exc)]
        return _list_page(form, 400)
    _retrain(kind)
    log.info("tag created", extra={"operator_id": current_user.id, "tag": name})
    flash(gettext("Tag %(name)s created.", name=name), "ok")
    return redirect(url_for("operator.tag", tag_id=tag_id))


def _load(session: Session, tag_id: int) -> Tag:
    tag = session.get(Tag, tag_id)
    if tag is None or tag.deleted_at is not None:
        abort(404, description=gettext("There is no such tag."))
    return tag


def _recent_messages(session: Session, tag_id: int) -> list[dict[str, Any]]:
    """The messages that most recently earned the tag: the evidence of its most recently changed fans."""
    rows = session.exec(select(FanTag).where(FanTag.tag_id == tag_id, col(FanTag.active).is_(True))
                        .order_by(col(FanTag.updated_at).desc()).limit(RECENT)).all()
    ids = sorted({int(m) for r in rows for m in (r.evidence or [])}, reverse=True)[:RECENT]
    if not ids:
        return []
    found = session.exec(select(Message).where(col(Message.id).in_(ids))).all()
    return [{"id": m.id, "fan_id": m.fan_id, "text": m.text, "sent_at": m.sent_at}
            for m in sorted(found, key=lambda m: -(m.id or 0))]


def _tag_page(tag_id: int, form: TagEditForm | None = None, merge: MergeForm | None = None,
              status: int = 200) -> Any:
    with Session(hub_state().engine) as session:
        tag = _load(session, tag_id)
        if form is None:
            form = TagEditForm(formdata=None, description=tag.description,
                               keywords=", ".join(tag.seed_keywords or []))
        merge = merge or MergeForm(formdata=None)
        others = session.exec(select(Tag).where(col(Tag.deleted_at).is_(None), Tag.kind == tag.kind,
                                                Tag.id != tag_id).order_by(col(Tag.name))).all()
        merge.target.choices = options((t.id, t.name) for t in others)
        fans = session.exec(select(func.count()).select_from(FanTag).where(
            FanTag.tag_id == tag_id, col(FanTag.active).is_(True))).one()
        recent = _recent_messages(session, tag_id)
    return render_template("operator/tag.html", tag=tag, form=form, merge=merge, fans=fans, recent=recent,
                           kinds=KIND_LABELS, confirm=ConfirmForm(formdata=None)), status


@bp.get("/tags/<int:tag_id>")
def tag(tag_id: int) -> Any:
    return _tag_page(tag_id)


@bp.post("/tags/<int:tag_id>")
def edit_tag(tag_id: int) -> Any:
    form = TagEditForm()
    if not valid(form, "edit tag"):
        return _tag_page(tag_id, form=form, status=400)
    try:
        with session_scope(hub_state().engine) as session:
            tag = _load(session, tag_id)
            keywords_before = list(tag.seed_keywords or [])
            tag = update_tag(session, tag.name, form.description.data or "", split_words(form.keywords.data))
            kind, changed = tag.kind, keywords_before != list(tag.seed_keywords or [])
    except TagError as exc:
        form.keywords.errors = [*form.keywords.errors, str(exc)]
        return _tag_page(tag_id, form=form, status=400)
    if changed:
        _retrain(kind)
    flash(gettext("Tag saved."), "ok")
    return redirect(url_for("operator.tag", tag_id=tag_id))


@bp.post("/tags/<int:tag_id>/merge")
def merge_tag(tag_id: int) -> Any:
    merge = MergeForm()
    with Session(hub_state().engine) as session:
        _load(session, tag_id)
        merge.target.choices = options((t_id, str(t_id)) for t_id in session.exec(select(Tag.id)).all())
    if not valid(merge, "merge tags"):
        return _tag_page(tag_id, merge=merge, status=400)
    try:
        with session_scope(hub_state().engine) as session:
            source, target = _load(session, tag_id), _load(session, merge.target.data)
            report = merge_tags(session, source.name, target.name)
    except TagError as exc:
        merge.target.errors = [*merge.target.errors, str(exc)]
        return _tag_page(tag_id, merge=merge, status=400)
    _retrain(report["kind"])
    log.info("tags merged", extra={"operator_id": current_user.id, **report})
    flash(gettext("%(source)s merged into %(target)s: %(fans)d fans and %(examples)d examples moved.", **report), "ok")
    return redirect(url_for("operator.tag", tag_id=merge.target.data))


@bp.post("/tags/<int:tag_id>/delete")
def delete_tag_page(tag_id: int) -> Any:
    if not valid(ConfirmForm(), "delete tag"):
        abort(400)
    try:
        with session_scope(hub_state().engine) as session:
            tag = delete_tag(session, _load(session, tag_id).name)
            name, kind = tag.name, tag.kind
    except TagError as exc:
        flash(str(exc), "error")
        return redirect(url_for("operator.tag", tag_id=tag_id))
    _retrain(kind)
    log.info("tag deleted", extra={"operator_id": current_user.id, "tag": name})
    flash(gettext("Tag %(name)s deleted: it left every fan.", name=name), "ok")
    return redirect(url_for("operator.tags"))
