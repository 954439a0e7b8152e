"""The operator's fan pages: find fans (by name, openid or CRM id), one fan's identities with their channel and
account, set its CRM id, merge another fan into it (a confirm step shows what moves and what conflicts), split
an identity off (confirmed too), and the log of such changes. A merged fan's page leads to the kept fan."""

from __future__ import annotations

import logging
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, or_
from sqlmodel import Session, col, select
from wtforms import HiddenField, IntegerField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from hub.conversation import IdentityError, fan_summary, merge_fans, resolve, set_crm_id, split_identity
from hub.core.models import Fan, FanEvent, Identity, Message, User
from hub.core.state import HubState
from hub.web.operator.blueprint import bp

log = logging.getLogger("hub.web.operator.fans")
SEARCH_LIMIT = 50


class ConfirmFanForm(FlaskForm):
    """A confirmed action: only the CSRF token (and a reason)."""

    reason = StringField(lazy_gettext("Reason (for the log)"), validators=[Optional(), Length(max=200)])


class CrmForm(FlaskForm):
    crm_id = StringField(lazy_gettext("CRM id"), validators=[Optional(), Length(max=128)])


class MergeForm(FlaskForm):
    other = IntegerField(lazy_gettext("Fan to merge into this one (its id)"), validators=[
        InputRequired(message=lazy_gettext("Enter a fan id.")), NumberRange(min=1)])
    display_name = HiddenField()
    reason = StringField(lazy_gettext("Reason (for the log)"), validators=[Optional(), Length(max=200)])


def _state() -> HubState:
    return current_app.extensions["hub"]


def _fan_or_404(session: Session, fan_id: int) -> Fan:
    fan = resolve(session, fan_id)
    if fan is None:
        abort(404, description=gettext("There is no fan %(id)d.", id=fan_id))
    return fan


def _explain(exc: IdentityError) -> str:
    return gettext("Refused: %(reason)s", reason=exc.message)


@bp.get("/fans")
def fans() -> Any:
    query = (request.args.get("q") or "").strip()[:128]
    with Session(_state().engine) as session:
        statement = select(Fan).where(col(Fan.merged_into_id).is_(None))
        if query:
            like = f"%{query}%"
            by_openid = select(Identity.fan_id).where(col(Identity.external_id).like(like))
            statement = statement.where(or_(col(Fan.display_name).like(like), col(Fan.crm_id).like(like),
                                            col(Fan.id).in_(by_openid), col(Fan.unionid) == query))
        found = [fan_summary(session, fan) for fan in session.exec(
            statement.order_by(col(Fan.last_seen_at).desc()).limit(SEARCH_LIMIT)).all()]
    return render_template("operator/fans.html", fans=found, q=query)


def _events(session: Session, fan_id: int) -> list[dict[str, Any]]:
    rows = session.exec(select(FanEvent, User.email).join(User, col(User.id) == FanEvent.actor_id, isouter=True)
                        .where(or_(FanEvent.fan_id == fan_id, FanEvent.other_fan_id == fan_id))
                        .order_by(col(FanEvent.id).desc()).limit(50)).all()
    return [{"event": event, "actor": email} for event, email in rows]


def _fan_page(fan_id: int, crm: CrmForm | None = None, merge: MergeForm | None = None, status: int = 200) -> Any:
    with Session(_state().engine) as session:
        fan = _fan_or_404(session, fan_id)
        if fan.id != fan_id:
            return redirect(url_for("operator.fan", fan_id=fan.id))
        view = fan_summary(session, fan)
        events = _events(session, fan.id)
    return render_template("operator/fans_detail.html", fan=view, events=events,
                           crm=crm or CrmForm(formdata=None, crm_id=view["crm_id"] or ""),
                           merge=merge or MergeForm(formdata=None), confirm=ConfirmFanForm(formdata=None)), status


@bp.get("/fans/<int:fan_id>")
def fan(fan_id: int) -> Any:
    return _fan_page(fan_id)


@bp.post("/fans/<int:fan_id>/crm")
def fan_crm(fan_id: int) -> Any:
    form = CrmForm()
    if not form.validate():
        return _fan_page(fan_id, crm=form, status=400)
    try:
        set_crm_id(_state(), fan_id, (form.crm_id.data or "").strip() or None, actor_id=int(current_user.id))
    except IdentityError as exc:
        log.warning("CRM id refused", extra={"fan_id": fan_id, "reason": exc.message})
        if exc.status == 404:
            abort(404)
        form.crm_id.errors = [_explain(exc)]
        return _fan_page(fan_id, crm=form, status=exc.status)
    flash(gettext("CRM id saved."), "ok")
    return redirect(url_for("operator.fan", fan_id=fan_id))


@bp.get("/fans/<int:fan_id>/merge")
def fan_merge_confirm(fan_id: int) -> Any:
    """The confirm step: both fans side by side, what moves, and what would stop the merge."""
    form = MergeForm(request.args, meta={"csrf": False})
    if not form.validate():
        return _fan_page(fan_id, merge=form, status=400)
    with Session(_state().engine) as session:
        keep = _fan_or_404(session, fan_id)
        other = resolve(session, form.other.data)
        if other is None or other.id == keep.id:
            form.other.errors = [gettext("There is no other fan %(id)d.", id=form.other.data)]
            return _fan_page(fan_id, merge=form, status=404 if other is None else 409)
        views = fan_summary(session, keep), fan_summary(session, other)
    conflicts = [gettext("Different WeChat unionids: they are two WeChat users.")
                 for a, b in [(views[0]["unionid"], views[1]["unionid"])] if a and b and a != b]
    conflicts += [gettext("Different CRM ids.") for a, b in [(views[0]["crm_id"], views[1]["crm_id"])]
                  if a and b and a != b]
    names = [n for n in dict.fromkeys((views[0]["display_name"], views[1]["display_name"])) if n]
    confirm = MergeForm(formdata=None, other=views[1]["id"], display_name=names[0] if names else "")
    return render_template("operator/fans_merge.html", keep=views[0], other=views[1], conflicts=conflicts,
                           names=names, form=confirm)


@bp.post("/fans/<int:fan_id>/merge")
def fan_merge(fan_id: int) -> Any:
    form = MergeForm()
    if not form.validate():
        return _fan_page(fan_id, merge=form, status=400)
    try:
        result = merge_fans(_state(), fan_id, form.other.data, actor_id=int(current_user.id),
                            reason=form.reason.data or "", display_name=form.display_name.data or None)
    except IdentityError as exc:
        log.warning("fan merge refused", extra={"fan_id": fan_id, "other": form.other.data, "reason": exc.message})
        if exc.status == 404:
            abort(404, description=exc.message)
        flash(_explain(exc), "error")
        return redirect(url_for("operator.fan", fan_id=fan_id))
    flash(gettext("Fan %(other)d merged into this fan: %(messages)d messages, %(tickets)d tickets moved.",
                  other=result["merged"], messages=result["moved"]["messages"], tickets=result["moved"]["tickets"]),
          "ok")
    return redirect(url_for("operator.fan", fan_id=result["fan_id"]))


def _identity_of(session: Session, fan_id: int, identity_id: int) -> tuple[Fan, Identity]:
    fan = _fan_or_404(session, fan_id)
    identity = session.get(Identity, identity_id)
    if identity is None or identity.fan_id != fan.id:
        abort(404, description=gettext("This fan has no such identity."))
    return fan, identity


@bp.get("/fans/<int:fan_id>/identities/<int:identity_id>/split")
def fan_split_confirm(fan_id: int, identity_id: int) -> Any:
    with Session(_state().engine) as session:
        fan, identity = _identity_of(session, fan_id, identity_id)
        view = fan_summary(session, fan)
        count = session.scalar(select(func.count()).select_from(Message).where(
            Message.fan_id == fan.id, Message.identity_id == identity.id)) or 0
    chosen = next(i for i in view["identities"] if i["id"] == identity_id)
    return render_template("operator/fans_split.html", fan=view, identity=chosen, messages=count,
                           form=ConfirmFanForm(formdata=None))


@bp.post("/fans/<int:fan_id>/identities/<int:identity_id>/split")
def fan_split(fan_id: int, identity_id: int) -> Any:
    form = ConfirmFanForm()
    if not form.validate():
        return _fan_page(fan_id, status=400)
    with Session(_state().engine) as session:
        _identity_of(session, fan_id, identity_id)
    try:
        result = split_identity(_state(), identity_id, actor_id=int(current_user.id), reason=form.reason.data or "")
    except IdentityError as exc:
        log.warning("split refused", extra={"identity_id": identity_id, "reason": exc.message})
        flash(_explain(exc), "error")
        return redirect(url_for("operator.fan", fan_id=fan_id))
    flash(gettext("Identity split off into fan %(fan)d: %(messages)d messages, %(tickets)d tickets moved.",
                  fan=result["fan_id"], messages=result["moved"]["messages"], tickets=result["moved"]["tickets"]),
          "ok")
    return redirect(url_for("operator.fan", fan_id=result["fan_id"]))
