"""API for interest tags: the taxonomy, a fan's interest profile (scores, source, evidence), manual tags,
labelled examples and corrections, and training jobs with their progress. Operators write; agents read."""

from __future__ import annotations

from typing import Any, Literal

from flask import jsonify
from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, select

from hub.core.db import session_scope
from hub.core.models import Fan
from hub.tags import (
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
from hub.web.api.base import Body, ErrorOut, Response, bp, endpoint, error, state

READ = ("agent", "operator")
WRITE = ("operator",)


class TagOut(BaseModel):
    id: int
    name: str
    kind: str
    description: str
    keywords: list[str]
    created_at: str
    fans: int | None = None  # in lists: how many fans carry it


class TagIn(Body):
    name: str
    kind: str | None = "interest"  # interest | manual | system
    description: str | None = ""
    keywords: list[str] | None = None  # interest tags: seed keywords for the cold start


class TagPatch(Body):
    description: str | None = None
    keywords: list[str] | None = None


class DeletedOut(BaseModel):
    id: int
    deleted: bool


class Evidence(BaseModel):
    message_id: int
    text: str


class InterestOut(BaseModel):
    tag: str
    kind: str
    score: float
    source: str
    evidence: list[Evidence]


class InterestsOut(BaseModel):
    fan_id: int
    model_version: str | None
    messages_counted: int
    tags: list[InterestOut]
    scores: dict[str, float]
    manual: dict[str, Any]


class ManualIn(Body):
    on: bool = True


class ManualTagOut(BaseModel):
    tag: str
    source: str
    score: float


class ManualOut(BaseModel):
    fan_id: int
    tags: list[ManualTagOut]


class ExampleIn(Body):
    kind: Literal["interest", "intent"]
    label: str
    text: str | None = None  # or message_id: a correction of that message
    message_id: int | None = None


class ExampleOut(BaseModel):
    id: int
    kind: str
    text: str
    label: str
    source: str


class TrainIn(Body):
    kind: Literal["interest", "intent"] = "interest"
    force: bool = False


class TrainingOut(BaseModel):
    job_id: str
    status_url: str


class JobOut(BaseModel):
    id: str
    status: str
    progress: dict[str, Any] | None
    result: dict[str, Any] | None
    error: str | None


def _error(exc: TagError) -> tuple[Any, int]:
    return error(404 if isinstance(exc, TagNotFound) else 400, str(exc))


def _retrain_interests() -> None:
    request_training(state(), "interest")  # the cold-start keywords and the label set follow the taxonomy


@bp.get("/tags")
@endpoint(*READ, resp=Response(HTTP_200=list[TagOut]), tags=["tags"])
def list_tags() -> Any:
    """Tags (interest, manual, system) with the number of fans carrying each"""
    with Session(state().engine) as session:
        counts = dict(session.exec(select(FanTag.tag_id, func.count()).where(FanTag.active == True)  # noqa: E712
                                   .group_by(FanTag.tag_id)).all())
        rows = session.exec(select(Tag).where(Tag.deleted_at == None).order_by(Tag.id)).all()  # noqa: E711
        return jsonify([tag_dict(t, counts.get(t.id, 0)) for t in rows])


@bp.post("/tags")
@endpoint(*WRITE, json=TagIn, resp=Response(HTTP_201=TagOut), tags=["tags"])
def create(json: TagIn) -> Any:
    """Create a tag"""
    try:
        with session_scope(state().engine) as session:
            tag = create_tag(session, json.name, json.kind or "interest", json.description or "", json.keywords or [])
            out = tag_dict(tag)
    except TagError as exc:
        return _error(exc)
    if out["kind"] == "interest":
        _retrain_interests()
    return jsonify(out), 201


@bp.patch("/tags/<int:tag_id>")
@endpoint(*WRITE, json=TagPatch, resp=Response(HTTP_200=TagOut, HTTP_404=ErrorOut), tags=["tags"])
def change(tag_id: int, json: TagPatch) -> Any:
    """Change a tag's description or seed keywords"""
    try:
        with session_scope(state().engine) as session:
            tag = session.get(Tag, tag_id)
            if tag is None or tag.deleted_at is not None:
                raise TagNotFound(f"no tag {tag_id}")
            tag = update_tag(session, tag.name, json.description, json.keywords)
            out = tag_dict(tag)
    except TagError as exc:
        return _error(exc)
    if "keywords" in json.model_fields_set and out["kind"] == "interest":
        _retrain_interests()
    return jsonify(out)


@bp.delete("/tags/<int:tag_id>")
@endpoint(*WRITE, resp=Response(HTTP_200=DeletedOut, HTTP_404=ErrorOut), tags=["tags"])
def remove(tag_id: int) -> Any:
    """Delete a tag (it leaves every fan at once)"""
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
@endpoint(*READ, resp=Response(HTTP_200=InterestsOut, HTTP_404=ErrorOut), tags=["tags"])
def interests(fan_id: int) -> Any:
    """A fan's tags with score, source and evidence (messages)"""
    with Session(state().engine) as session:
        if session.get(Fan, fan_id) is None:
            return error(404, f"no fan {fan_id}")
        return jsonify(profiles.interests_of(session, fan_id))


@bp.put("/fans/<int:fan_id>/tags/<int:tag_id>")
@endpoint(*WRITE, json=ManualIn, resp=Response(HTTP_200=ManualOut, HTTP_404=ErrorOut), tags=["tags"])
def set_manual(fan_id: int, tag_id: int, json: ManualIn) -> Any:
    """Set a manual tag: {on: true} adds it, {on: false} removes it; manual always wins"""
    return _manual(fan_id, tag_id, json.on)


@bp.delete("/fans/<int:fan_id>/tags/<int:tag_id>")
@endpoint(*WRITE, resp=Response(HTTP_200=ManualOut, HTTP_404=ErrorOut), tags=["tags"])
def clear_manual(fan_id: int, tag_id: int) -> Any:
    """Clear a manual decision: the classifier decides again"""
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
@endpoint(*WRITE, json=ExampleIn, resp=Response(HTTP_201=ExampleOut, HTTP_404=ErrorOut), tags=["tags"])
def example(json: ExampleIn) -> Any:
    """A labelled example, or a correction of a message (give message_id instead of text)"""
    try:
        with session_scope(state().engine) as session:
            row = add_example(session, json.kind, json.text, json.label,
                              source="correction" if json.message_id is not None else "operator",
                              message_id=json.message_id)
            out = {"id": row.id, "kind": row.kind, "text": row.text, "label": row.label, "source": row.source}
    except TagError as exc:
        return _error(exc)
    return jsonify(out), 201


@bp.post("/tags/train")
@endpoint(*WRITE, json=TrainIn, resp=Response(HTTP_202=TrainingOut, HTTP_503=ErrorOut), tags=["tags"])
def start_training(json: TrainIn) -> Any:
    """Start training a model; returns the job id and where to follow it"""
    job_id = request_training(state(), json.kind, force=json.force)
    if job_id is None:
        return error(503, "the queue (Redis) is unavailable: try again shortly")
    return jsonify(job_id=job_id, status_url=f"/api/v1/tags/train/{job_id}"), 202


@bp.get("/tags/train/<job_id>")
@endpoint(*WRITE, resp=Response(HTTP_200=JobOut, HTTP_404=ErrorOut), tags=["tags"])
def training_status(job_id: str) -> Any:
    """A training job's status, progress and result"""
    status = job_status(state(), job_id)
    if status is None:
        return error(404, f"no training job {job_id!r}")
    return jsonify(status)
