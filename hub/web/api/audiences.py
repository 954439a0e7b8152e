"""API for audiences built from tag algebra (hub.tags.audiences): preview an expression (count and sample), saved
audiences (counted again whenever read), their CSV export (streamed; the count comes first in X-Total-Count), and
pushing one to a WeChat user tag (an RQ job with progress and a report). Operators and admins; agents get 403.

A malformed expression is a 400 whose `position` is the 0-based character offset of the fault and `expected`
what would fit there, e.g. {"error": "at position 9: expected AND, OR or ...", "position": 9, ...}.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response as FlaskResponse
from flask import jsonify, stream_with_context, url_for
from flask_login import current_user
from pydantic import BaseModel, Field

from hub.tags import AudienceSyntaxError, SavedAudience, audience_push, audiences
from hub.web.api.base import Body, ErrorOut, Response, bp, endpoint, error, state

log = logging.getLogger("hub.web.api")
ROLES = ("operator",)
TAGS = ["audiences"]


class AudiencePreviewIn(Body):
    expression: str = Field(max_length=2000, description="e.g. (美妆 OR 母婴) AND NOT 数码")
    sample: int = Field(default=20, ge=0, le=100, description="how many matching fans to list")


class AudienceFanOut(BaseModel):
    id: int
    display_name: str
    first_seen: str
    last_active: str


class AudiencePreviewOut(BaseModel):
    count: int
    total_fans: int
    sample: list[AudienceFanOut]
    elapsed_ms: float


class AudienceSyntaxErrorOut(ErrorOut):
    """A malformed expression (or one naming a tag that does not exist)."""

    position: int = Field(description="0-based character offset of the fault")
    expected: str
    found: str | None


class AudienceIn(Body):
    name: str = Field(min_length=1, max_length=100)
    expression: str = Field(min_length=1, max_length=2000)
    description: str = Field(default="", max_length=500)


class AudienceOut(BaseModel):
    id: int
    name: str
    expression: str
    description: str
    count: int | None = Field(description="now (on a single audience) or at the last evaluation (in the list)")
    counted_at: str | None
    created_at: str
    updated_at: str
    export_url: str
    sample: list[AudienceFanOut] | None = None
    problem: AudienceSyntaxErrorOut | None = Field(default=None, description="when the expression no longer "
                                                   "evaluates (a tag it names was deleted)")


class AudienceDeletedOut(BaseModel):
    id: int
    deleted: bool


class AudiencePushIn(Body):
    tag: str = Field(min_length=1, max_length=30, description="the WeChat user tag's name (created if missing)")
    account: str | None = Field(default=None, description="an Official Account's key (default: every one)")


class AudiencePushOut(BaseModel):
    job_id: str
    status_url: str


class AudiencePushQuery(BaseModel):
    job: str | None = Field(default=None, max_length=200)


class AudiencePushStatusOut(BaseModel):
    job: dict[str, Any] | None
    report: dict[str, Any] | None


def _iso(moment: Any) -> str:
    return moment.isoformat() if moment else ""


def _fan(fan: Any) -> dict[str, Any]:
    return {"id": fan.id, "display_name": fan.display_name, "first_seen": _iso(fan.created_at),
            "last_active": _iso(fan.last_seen_at)}


def syntax_error(exc: AudienceSyntaxError) -> dict[str, Any]:
    return {"error": str(exc), "position": exc.position, "expected": exc.expected, "found": exc.found}


def _refuse(exc: AudienceSyntaxError) -> tuple[Any, int]:
    body = syntax_error(exc)
    return error(400, body.pop("error"), **body)


def _audience(row: SavedAudience, **extra: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "expression": row.expression, "description": row.description,
            "count": row.last_count, "counted_at": _iso(row.last_counted_at) or None,
            "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at),
            "export_url": url_for("api.export_audience", audience_id=row.id), **extra}


@bp.post("/audiences/preview")
@endpoint(*ROLES, json=AudiencePreviewIn, resp=Response(HTTP_200=AudiencePreviewOut, HTTP_400=AudienceSyntaxErrorOut),
          tags=TAGS)
def preview_audience(json: AudiencePreviewIn) -> Any:
    """Count the fans an expression matches, with a sample of them"""
    try:
        result = audiences.evaluate(state(), json.expression, json.sample)
    except AudienceSyntaxError as exc:
        return _refuse(exc)
    return jsonify(count=result.count, total_fans=audiences.fans_total(state()),
                   sample=[_fan(f) for f in result.sample], elapsed_ms=round(result.elapsed_ms, 1))


@bp.get("/audiences")
@endpoint(*ROLES, resp=Response(HTTP_200=list[AudienceOut]), tags=TAGS)
def list_audiences() -> Any:
    """Saved audiences with their count at the last evaluation"""
    return jsonify([_audience(row) for row in audiences.saved(state())])


@bp.post("/audiences")
@endpoint(*ROLES, json=AudienceIn, resp=Response(HTTP_201=AudienceOut, HTTP_400=AudienceSyntaxErrorOut,
                                                  HTTP_409=ErrorOut), tags=TAGS)
def create_audience(json: AudienceIn) -> Any:
    """Save an audience (its expression must evaluate)"""
    return _save(json, None)


@bp.put("/audiences/<int:audience_id>")
@endpoint(*ROLES, json=AudienceIn, resp=Response(HTTP_200=AudienceOut, HTTP_400=AudienceSyntaxErrorOut,
                                                  HTTP_404=ErrorOut, HTTP_409=ErrorOut), tags=TAGS)
def update_audience(audience_id: int, json: AudienceIn) -> Any:
    """Change a saved audience's name, expression or description"""
    return _save(json, audience_id)


def _save(json: AudienceIn, audience_id: int | None) -> Any:
    try:
        row = audiences.save(state(), json.name, json.expression, json.description, current_user.id, audience_id)
    except AudienceSyntaxError as exc:
        return _refuse(exc)
    except audiences.AudienceError as exc:
        return error(409 if "exists already" in str(exc) else 400, str(exc))
    except LookupError as exc:
        return error(404, str(exc))
    return jsonify(_audience(row)), 201 if audience_id is None else 200


@bp.get("/audiences/<int:audience_id>")
@endpoint(*ROLES, resp=Response(HTTP_200=AudienceOut, HTTP_404=ErrorOut), tags=TAGS)
def get_audience(audience_id: int) -> Any:
    """A saved audience, counted again now, with a sample of its fans"""
    try:
        row, result = audiences.reopen(state(), audience_id)
    except LookupError as exc:
        return error(404, str(exc))
    except AudienceSyntaxError as exc:
        row = audiences.get(state(), audience_id)
        assert row is not None
        return jsonify(_audience(row, problem=syntax_error(exc)))
    return jsonify(_audience(row, sample=[_fan(f) for f in result.sample]))


@bp.delete("/audiences/<int:audience_id>")
@endpoint(*ROLES, resp=Response(HTTP_200=AudienceDeletedOut, HTTP_404=ErrorOut), tags=TAGS)
def delete_audience(audience_id: int) -> Any:
    """Delete a saved audience"""
    if not audiences.delete(state(), audience_id):
        return error(404, f"no saved audience {audience_id}")
    return jsonify(id=audience_id, deleted=True)


@bp.get("/audiences/<int:audience_id>/export.csv")
@endpoint(*ROLES, resp=Response(HTTP_200=(None, "CSV: fan_id, display_name, first_seen, last_active, openids, tags"),
                                HTTP_400=AudienceSyntaxErrorOut, HTTP_404=ErrorOut), tags=TAGS)
def export_audience(audience_id: int) -> Any:
    """The saved audience's fans as CSV, streamed (X-Total-Count: how many rows follow the header)"""
    row = audiences.get(state(), audience_id)
    if row is None:
        return error(404, f"no saved audience {audience_id}")
    try:
        total, chunks = audiences.export_csv(state(), row.expression)
    except AudienceSyntaxError as exc:
        return _refuse(exc)
    log.info("audience exported", extra={"audience": audience_id, "fans": total, "user": current_user.id})
    response = FlaskResponse(stream_with_context(_with_bom(chunks)), mimetype="text/csv; charset=utf-8")
    response.headers["X-Total-Count"] = str(total)
    response.headers["Content-Disposition"] = f"attachment; filename=audience-{audience_id}.csv"
    response.headers["Cache-Control"] = "no-store"
    return response


def _with_bom(chunks: Any) -> Any:
    yield "\ufeff"  # Excel reads UTF-8 (Chinese names) only with the byte-order mark
    yield from chunks


@bp.post("/audiences/<int:audience_id>/push")
@endpoint(*ROLES, json=AudiencePushIn, resp=Response(HTTP_202=AudiencePushOut, HTTP_400=ErrorOut, HTTP_404=ErrorOut,
                                                      HTTP_503=ErrorOut), tags=TAGS)
def push_audience_to_wechat(audience_id: int, json: AudiencePushIn) -> Any:
    """Tag the audience's subscribed fans with a WeChat user tag (a job: poll the status URL)"""
    try:
        job_id = audience_push.request_push(state(), audience_id, json.tag, json.account)
    except LookupError as exc:
        return error(404, str(exc))
    except audience_push.PushRefused as exc:
        return error(503 if "unreachable" in str(exc) else 400, str(exc))
    status_url = url_for("api.audience_push_status", audience_id=audience_id, job=job_id)
    return jsonify(job_id=job_id, status_url=status_url), 202


@bp.get("/audiences/<int:audience_id>/push")
@endpoint(*ROLES, query=AudiencePushQuery, resp=Response(HTTP_200=AudiencePushStatusOut, HTTP_404=ErrorOut),
          tags=TAGS)
def audience_push_status(audience_id: int, query: AudiencePushQuery) -> Any:
    """The push's progress (with ?job=ID) and the last finished push's report"""
    if audiences.get(state(), audience_id) is None:
        return error(404, f"no saved audience {audience_id}")
    return jsonify(audience_push.push_status(state(), audience_id, query.job))
