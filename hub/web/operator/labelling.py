"""The operator's labelling page: fans' messages the interest model is least sure about, each with its prediction
pre-selected, confirmed or corrected with one click or key (an Example, source operator or correction); and
"train now" with the job's progress, the new model's held-out figures beside the active one's, and whether the
gate let it replace the active model."""

from __future__ import annotations

import logging
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlmodel import Session, col, select
from wtforms import HiddenField, IntegerField
from wtforms.validators import DataRequired, InputRequired

from hub.core.db import session_scope
from hub.core.models import Message
from hub.tags import (
    Tag,
    TagError,
    active_model_figures,
    add_example,
    job_status,
    label_queue,
    request_training,
)
from hub.web.operator.blueprint import bp
from hub.web.operator.tags import ConfirmForm, hub_state, valid

log = logging.getLogger("hub.web.operator")
NONE = "none"
QUEUE_SIZE = 20


class LabelForm(FlaskForm):
    message_id = IntegerField(validators=[InputRequired()])
    label = HiddenField(lazy_gettext("Label"), validators=[DataRequired(message=lazy_gettext("Choose a label."))])
    predicted = HiddenField()


def _labels(session: Session) -> list[str]:
    return list(session.exec(select(Tag.name).where(col(Tag.deleted_at).is_(None), Tag.kind == "interest")
                             .order_by(col(Tag.id))).all())


@bp.get("/labelling")
def labelling() -> Any:
    state = hub_state()
    with Session(state.engine) as session:
        labels = _labels(session)
        items = label_queue(state, session, limit=QUEUE_SIZE)
    job_id = request.args.get("job", "")
    return render_template("operator/labelling.html", items=items, labels=[*labels, NONE],
                           form=LabelForm(formdata=None), train_form=ConfirmForm(formdata=None),
                           active=active_model_figures(state), job_id=job_id if _is_training_job(job_id) else "")


def _is_training_job(job_id: str) -> bool:
    return job_id.startswith("train_tag_model-") and len(job_id) < 200


@bp.post("/labelling/label")
def label_message() -> Any:
    form = LabelForm()
    if not valid(form, "label"):
        flash(gettext("Choose a label for the message."), "error")
        return redirect(url_for("operator.labelling")), 303
    label, predicted = form.label.data, form.predicted.data or ""
    source = "operator" if label == predicted else "correction"
    try:
        with session_scope(hub_state().engine) as session:
            if session.get(Message, form.message_id.data) is None:
                abort(404, description=gettext("There is no such message."))
            add_example(session, "interest", None, label, source=source, message_id=form.message_id.data)
    except TagError as exc:
        log.warning("label refused", extra={"operator_id": current_user.id, "reason": str(exc)})
        flash(gettext("The label was refused: %(reason)s", reason=str(exc)), "error")
        return redirect(url_for("operator.labelling")), 303
    log.info("message labelled", extra={"operator_id": current_user.id, "message_id": form.message_id.data,
                                        "label": label, "source": source})
    shown = gettext("none of the tags") if label == NONE else label
    flash(gettext("Labelled: %(label)s.", label=shown), "ok")
    return redirect(url_for("operator.labelling")), 303


@bp.post("/labelling/train")
def train_now() -> Any:
    if not valid(ConfirmForm(), "train"):
        abort(400)
    job_id = request_training(hub_state(), "interest")
    if job_id is None:
        flash(gettext("The queue (Redis) is unavailable: try again shortly."), "error")
        return redirect(url_for("operator.labelling")), 303
    log.info("training requested", extra={"operator_id": current_user.id, "job_id": job_id})
    return redirect(url_for("operator.labelling", job=job_id)), 303


def verdict(reason: str | None) -> str:
    """The gate's reason (hub.tags.classifiers) in the reader's language; an unknown one as it is."""
    reason = reason or ""
    fixed = {"no model yet": gettext("there was no model yet"),
             "forced by the operator": gettext("forced by the operator"),
             "no held-back examples to compare on yet": gettext("there are no held-out examples to compare on yet"),
             "no worse than the active model on the held-back examples": gettext(
                 "it is no worse than the active model on the held-out examples")}
    if reason in fixed:
        return fixed[reason]
    if reason.startswith("the active model cannot predict "):
        return gettext("the active model cannot predict %(tags)s", tags=reason.removeprefix(
            "the active model cannot predict "))
    if reason.startswith("worse than the active model"):
        return gettext("it is worse than the active model on the held-out examples")
    return reason


@bp.get("/labelling/train/<job_id>")
def training_progress(job_id: str) -> Any:
    """The training job's progress as a fragment the page polls (htmx) until the job is done."""
    status = job_status(hub_state(), job_id) if _is_training_job(job_id) else None
    if status is None:
        abort(404, description=gettext("There is no such training job."))
    return render_template("operator/_training.html", status=status, job_id=job_id, verdict=verdict)
