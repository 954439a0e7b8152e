"""The operator's audience builder: an expression over tags (AND / OR / NOT, 且 / 或 / 非, parentheses) and
filters, with clickable tag chips and operator buttons, a live count and a sample while typing (audiences.js asks
POST /api/v1/audiences/preview), errors with their position marked; saved audiences (counted again whenever
opened), their CSV export with progress, and pushing one to a WeChat user tag with the report.

Without JavaScript the page still works: ?expression=... (and every saved audience) renders with its count, sample
and error; saving and deleting are CSRF-protected forms."""

from __future__ import annotations

import logging
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func
from sqlmodel import Session, col, select
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from hub.core.models import Account
from hub.core.state import HubState
from hub.tags import AudienceSyntaxError, FanTag, SavedAudience, Tag, audiences
from hub.tags.audience_syntax import DATE_FIELDS, FILTERS
from hub.web.operator.blueprint import bp

log = logging.getLogger("hub.web.operator")
SAMPLE = 20


class AudienceForm(FlaskForm):
    name = StringField(lazy_gettext("Audience name"), validators=[DataRequired(), Length(max=100)])
    expression = TextAreaField(lazy_gettext("Expression"), validators=[DataRequired(), Length(max=2000)])
    description = StringField(lazy_gettext("Purpose (optional)"), validators=[Optional(), Length(max=500)])


class ConfirmForm(FlaskForm):
    """A button that changes one thing: only the CSRF token."""


def hub_state() -> HubState:
    return current_app.extensions["hub"]


def _palette(state: HubState) -> dict[str, Any]:
    """What the builder offers to click: the tags with their fans, the filters, the accounts."""
    with Session(state.engine) as session:
        counts = dict(session.exec(select(FanTag.tag_id, func.count()).where(col(FanTag.active).is_(True))
                                   .group_by(col(FanTag.tag_id))).all())
        tags = [{"name": t.name, "fans": counts.get(t.id, 0), "kind": t.kind} for t in session.exec(
            select(Tag).where(col(Tag.deleted_at).is_(None)).order_by(col(Tag.name))).all()]
        accounts = list(session.exec(select(Account.key, Account.channel).order_by(col(Account.key))).all())
    channels = sorted({channel for _key, channel in accounts})
    filters = [*(f"channel:{c}" for c in channels), *(f"account:{k}" for k, _c in accounts),
               "subscribed:yes", "subscribed:no", "scene:", "intent:complaint", "intent:purchase", "ticket:open",
               "first_seen>=", "active<30d", "active>90d"]
    return {"tags": tags, "filters": filters, "wechat_accounts": [k for k, c in accounts if c == "wechat"],
            "filter_fields": [*FILTERS, *DATE_FIELDS]}


def _evaluate(expression: str) -> dict[str, Any]:
    """The count and sample for the page's first render (JavaScript keeps them current while typing)."""
    if not expression.strip():
        return {"count": None, "sample": [], "problem": None}
    try:
        result = audiences.evaluate(hub_state(), expression, SAMPLE)
    except AudienceSyntaxError as exc:
        return {"count": None, "sample": [], "problem": exc}
    return {"count": result.count, "sample": result.sample, "problem": None}


def _page(form: AudienceForm, audience: SavedAudience | None = None, status: int = 200,
          evaluation: dict[str, Any] | None = None) -> Any:
    state = hub_state()
    expression = form.expression.data or ""
    evaluation = evaluation if evaluation is not None else _evaluate(expression)
    return render_template("operator/audiences.html", form=form, audience=audience, saved=audiences.saved(state),
                           total_fans=audiences.fans_total(state), confirm=ConfirmForm(), expression=expression,
                           **_palette(state), **evaluation), status


@bp.get("/audiences", endpoint="audiences")
def builder() -> Any:
    """The builder, empty or with ?expression=... filled in."""
    form = AudienceForm(formdata=None)
    form.expression.data = request.args.get("expression", "")[:2000]
    return _page(form)


@bp.post("/audiences")
def save_audience() -> Any:
    return _save(AudienceForm(), None)


@bp.get("/audiences/<int:audience_id>")
def audience(audience_id: int) -> Any:
    """A saved audience, counted again now."""
    state = hub_state()
    try:
        row, result = audiences.reopen(state, audience_id, SAMPLE)
        evaluation: dict[str, Any] = {"count": result.count, "sample": result.sample, "problem": None}
    except LookupError:
        abort(404, gettext("There is no such audience."))
    except AudienceSyntaxError as exc:
        row = audiences.get(state, audience_id)
        evaluation = {"count": None, "sample": [], "problem": exc}
    form = AudienceForm(formdata=None, obj=row)
    return _page(form, row, evaluation=evaluation)


@bp.post("/audiences/<int:audience_id>")
def edit_audience(audience_id: int) -> Any:
    row = audiences.get(hub_state(), audience_id)
    if row is None:
        abort(404, gettext("There is no such audience."))
    return _save(AudienceForm(), row)


def _save(form: AudienceForm, row: SavedAudience | None) -> Any:
    if not form.validate():
        return _page(form, row, 400)
    try:
        saved = audiences.save(hub_state(), form.name.data or "", form.expression.data or "",
                               form.description.data or "", current_user.id, row.id if row else None)
    except AudienceSyntaxError as exc:
        form.expression.errors = [gettext("Position %(position)d: %(message)s", position=exc.position,
                                          message=str(exc))]
        return _page(form, row, 400)
    except audiences.AudienceError:
        form.name.errors = [gettext("An audience with this name exists already.")]
        return _page(form, row, 400)
    log.info("audience saved", extra={"audience": saved.id, "user": current_user.id})
    flash(gettext("Audience %(name)s saved: %(count)d fans.", name=saved.name, count=saved.last_count or 0), "ok")
    return redirect(url_for("operator.audience", audience_id=saved.id))


@bp.post("/audiences/<int:audience_id>/delete")
def delete_audience(audience_id: int) -> Any:
    if not ConfirmForm().validate():
        abort(400)
    row = audiences.get(hub_state(), audience_id)
    if row is None or not audiences.delete(hub_state(), audience_id):
        abort(404, gettext("There is no such audience."))
    log.info("audience deleted", extra={"audience": audience_id, "user": current_user.id})
    flash(gettext("Audience %(name)s deleted.", name=row.name), "ok")
    return redirect(url_for("operator.audiences"))
