"""API for interest tags: the taxonomy, a fan's interest profile (scores, source, evidence), manual tags,
labelled examples and corrections, and training jobs with their progress. Operators write; agents read."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from sqlalchemy import func
from sqlmodel import Session, select

from hub.core.db import session_scope
from hub.core.models import Fan
from hub.tags import (
    MODEL_KINDS,
    FanTag,
    Tag,
    TagError,
    TagNotFound,
    add_example,
    create_tag,
    delete_tag,
    job_status,
    profiles,
    request_training,
    tag_dict,
    update_tag,
)
from hub.web.api.base import bp, documented, require, state

READ = ("agent", "operator")
WRITE = ("operator",)


def _error(exc: TagError) -> tuple[Any, int]:
    return jsonify(error=str(exc)), 404 if isinstance(exc, TagNotFound) else 400


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _retrain_interests() -> None:
    request_training(state(), "interest")  # the cold-start keywords and the label set follow the taxonomy


@bp.get("/tags")
@documented("/tags", "get", "Tags (interest, manual, system) with the number of fans carrying each", roles=READ)
def list_tags() -> Any:
    if denied := require(*READ):
        return denied
    with Session(state().engine) as session:
        counts = dict(session.exec(select(FanTag.tag_id, func.count()).where(FanTag.active == True)  # noqa: E712
                                   .group_by(FanTag.tag_id)).all())
        rows = session.exec(select(Tag).where(Tag.deleted_at == None).order_by(Tag.id)).all()  # noqa: E711
        return jsonify([tag_dict(t, counts.get(t.id, 0)) for t in rows])


@bp.post("/tags")
@documented("/tags", "post", "Create a tag: {name, kind, description, keywords}", roles=WRITE)
def create() -> Any:
    if denied := require(*WRITE):
        return denied
    body = _body()
    try:
        with session_scope(state().engine) as session:
            tag = create_tag(session, body.get("name"), str(body.get("kind") or "interest"),
                             str(body.get("description") or ""), body.get("keywords") or [])
            out = tag_dict(tag)
    except TagError as exc:
        return _error(exc)
    if out["kind"] == "interest":
        _retrain_interests()
    return jsonify(out), 201


@bp.patch("/tags/<int:tag_id>")
@documented("/tags/{tag_id}", "patch", "Change a tag's description or seed keywords", roles=WRITE)
def change(tag_id: int) -> Any:
    if denied := require(*WRITE):
        return denied
    body = _body()
    try:
        with session_scope(state().engine) as session:
            tag = session.get(Tag, tag_id)
            if tag is None or tag.deleted_at is not None:
                raise TagNotFound(f"no tag {tag_id}")
            tag = update_tag(session, tag.name, body.get("description"), body.get("keywords"))
            out = tag_dict(tag)
    except TagError as exc:
        return _error(exc)
    if "keywords" in body and out["kind"] == "interest":
        _retrain_interests()
    return jsonify(out)


@bp.delete("/tags/<int:tag_id>")
@documented("/tags/{tag_id}", "delete", "Delete a tag (it leaves every fan at once)", roles=WRITE)
def remove(tag_id: int) -> Any:
    if denied := require(*WRITE):
        return denied
    try:
        with session_scope(state().engine) as session:
            tag = session.get(Tag, tag_id)
            if tag is None or tag.deleted_at is not None:
                raise TagNotFound(f"no tag {tag_id}")
            kind = delete_tag(session, tag.name).kind
    except TagError as exc:
        return _error(exc)
    if kind == "interest":
        _retrain_interests()
    return jsonify(id=tag_id, deleted=True)


@bp.get("/fans/<int:fan_id>/interests")
@documented("/fans/{fan_id}/interests", "get", "A fan's tags with score, source and evidence (messages)",
            roles=READ)
def interests(fan_id: int) -> Any:
    if denied := require(*READ):
        return denied
    with Session(state().engine) as session:
        if session.get(Fan, fan_id) is None:
            return jsonify(error=f"no fan {fan_id}"), 404
        return jsonify(profiles.interests_of(session, fan_id))


@bp.put("/fans/<int:fan_id>/tags/<int:tag_id>")
@documented("/fans/{fan_id}/tags/{tag_id}", "put",
            "Set a manual tag: {on: true} adds it, {on: false} removes it; manual always wins", roles=WRITE)
def set_manual(fan_id: int, tag_id: int) -> Any:
    if denied := require(*WRITE):
        return denied
    on = _body().get("on", True)
    if not isinstance(on, bool):
        return jsonify(error="'on' must be true or false"), 400
    return _manual(fan_id, tag_id, on)


@bp.delete("/fans/<int:fan_id>/tags/<int:tag_id>")
@documented("/fans/{fan_id}/tags/{tag_id}", "delete", "Clear a manual decision: the classifier decides again",
            roles=WRITE)
def clear_manual(fan_id: int, tag_id: int) -> Any:
    if denied := require(*WRITE):
        return denied
    return _manual(fan_id, tag_id, None)


def _manual(fan_id: int, tag_id: int, on: bool | None) -> Any:
    try:
        with session_scope(state().engine) as session:
            tag = session.get(Tag, tag_id)
            if tag is None or tag.deleted_at is not None:
                raise TagNotFound(f"no tag {tag_id}")
            views = profiles.set_manual_tag(session, fan_id, tag.name, on)
    except TagError as exc:
        return _error(exc)
    return jsonify(fan_id=fan_id, tags=[{"tag": v.label, "source": v.source, "score": round(v.score, 4)}
                                        for v in views])


@bp.post("/tags/examples")
@documented("/tags/examples", "post", "A labelled example or a correction of a message: "
            "{kind: interest|intent, label, text | message_id}", roles=WRITE)
def example() -> Any:
    if denied := require(*WRITE):
        return denied
    body = _body()
    message_id = body.get("message_id")
    if message_id is not None and not isinstance(message_id, int):
        return jsonify(error="'message_id' must be an integer"), 400
    try:
        with session_scope(state().engine) as session:
            row = add_example(session, str(body.get("kind") or ""), body.get("text"), body.get("label"),
                              source="correction" if message_id is not None else "operator",
                              message_id=message_id)
            out = {"id": row.id, "kind": row.kind, "text": row.text, "label": row.label, "source": row.source}
    except TagError as exc:
        return _error(exc)
    return jsonify(out), 201


@bp.post("/tags/train")
@documented("/tags/train", "post", "Start training a model: {kind: interest|intent}; returns the job id",
            roles=WRITE)
def start_training() -> Any:
    if denied := require(*WRITE):
        return denied
    kind = str(_body().get("kind") or "interest")
    if kind not in MODEL_KINDS:
        return jsonify(error="kind is interest or intent"), 400
    job_id = request_training(state(), kind, force=bool(_body().get("force")))
    if job_id is None:
        return jsonify(error="the queue (Redis) is unavailable: try again shortly"), 503
    return jsonify(job_id=job_id, status_url=f"/api/v1/tags/train/{job_id}"), 202


@bp.get("/tags/train/<job_id>")
@documented("/tags/train/{job_id}", "get", "A training job's status, progress and result", roles=WRITE)
def training_status(job_id: str) -> Any:
    if denied := require(*WRITE):
        return denied
    status = job_status(state(), job_id)
    if status is None:
        return jsonify(error=f"no training job {job_id!r}"), 404
    return jsonify(status)
