"""The REST API (/api/v1): the blueprint, roles, errors, and the OpenAPI document that spectree generates from
the routes' pydantic models (served at /api/v1/openapi.json); plus the stats route.

A caller is a console session (the cookie from /login; writes also need the X-CSRFToken header) or a bearer token
(`Authorization: Bearer TOKEN`, from `hub tokens create EMAIL`; no CSRF). Both act with the user's role.

Declaring a route: models for the body (and query) and for each answer's status, then `endpoint`:

    class TicketReplyIn(Body):                 # Body: strict types, unknown fields refused
        text: str = Field(min_length=1, max_length=2000)

    class TicketReplyOut(BaseModel):
        id: int
        status: str

    @bp.post("/tickets/<int:ticket_id>/replies")
    @endpoint("agent", json=TicketReplyIn, resp=Response(HTTP_202=TicketReplyOut, HTTP_404=ErrorOut), tags=["tickets"])
    def reply(ticket_id: int, json: TicketReplyIn) -> Any:
        '''An agent's reply to the ticket's fan (this line is the operation's summary).'''
        if ...:
            return error(404, f"no ticket {ticket_id}")
        return jsonify(id=message_id, status="queued"), 202

`endpoint(*roles)` answers 401/403 first (admin passes every role check; `public=True` for no check), then 400 for
a body or query that does not fit its model (naming the field, with a log line), and checks each answer against
the model `resp` gives for its status. The view receives the validated models as its `json` / `query` arguments
(annotated with the model: define models at module level, where spectree resolves the annotations). A model's
class name is its schema's name in the document, so it must be unique across the API.
"""

from __future__ import annotations

import copy
import json as jsonlib
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask import Response as FlaskResponse
from flask_login import current_user
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from spectree import Response, SecurityScheme, SecuritySchemeData, SpecTree

from hub.web.stats import collect

__all__ = ["Body", "ErrorOut", "Response", "api", "bp", "endpoint", "error", "require", "state"]

log = logging.getLogger("hub.web.api")
bp = Blueprint("api", __name__, url_prefix="/api/v1")


class Body(BaseModel):
    """Base for request bodies: JSON types as they are (no "5" for 5, no 1 for true) and no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid")


class ErrorOut(BaseModel):
    """Every error answer: `error` says what went wrong and what to do; some add fields."""

    model_config = ConfigDict(extra="allow")
    error: str


class FieldProblem(BaseModel):
    field: str = Field(description="dotted path of the field in the body or query ('' for the whole body)")
    message: str
    type: str


class ValidationErrorOut(ErrorOut):
    """A 400: the body or query did not fit the route's model (or a value was refused)."""

    field: str | None = Field(default=None, description="the first field at fault")
    errors: list[FieldProblem] = []


def _on_request_checked(req: Any, resp: Any, err: Exception | None, _instance: Any, _adapter: Any) -> None:
    """spectree's hook after checking a request: a refused one gets our error body and a log line."""
    if not isinstance(err, ValidationError):
        return
    problems = [FieldProblem(field=".".join(str(p) for p in e["loc"]), message=e["msg"], type=e["type"])
                for e in err.errors(include_url=False, include_context=False, include_input=False)]
    first = problems[0] if problems else FieldProblem(field="", message="invalid", type="invalid")
    where = f"'{first.field}'" if first.field else "the body"
    body = ValidationErrorOut(error=f"{where}: {first.message}", field=first.field or None, errors=problems)
    resp.set_data(body.model_dump_json())
    resp.mimetype = "application/json"
    log.warning("API request refused", extra={"path": req.path, "method": req.method, "status": resp.status_code,
                                              "fields": [p.field for p in problems]})


def _on_response_checked(req: Any, resp: Any, err: Exception | None, _instance: Any, _adapter: Any) -> None:
    """spectree's hook after checking an answer: one that does not match its model is a bug, answered as such."""
    if not isinstance(err, ValidationError):
        return
    log.error("API answer does not match its documented model", extra={
        "path": req.path, "method": req.method,
        "fields": [".".join(str(p) for p in e["loc"]) for e in err.errors(include_input=False)]})
    resp.set_data(jsonlib.dumps({"error": "the server's answer did not match its documented form (a bug): "
                                          "the hub's log has the details"}))
    resp.mimetype = "application/json"


_SCHEMA_NAMES: dict[str, str] = {}


def _schema_name(model: Any) -> str:
    """A model's name in the document is its class name (`TagOut`, not spectree's hashed default), so two API
    models may not share one: that is refused when the second route is declared."""
    name, origin = model.__name__, f"{model.__module__}.{model.__qualname__}"
    if _SCHEMA_NAMES.setdefault(name, origin) != origin:
        raise ValueError(f"two API models are called {name} ({_SCHEMA_NAMES[name]}, {origin}): rename one")
    return name


api = SpecTree(
    "flask",
    mode="strict",  # only the routes declared with `endpoint` (or api.validate) are in the document
    title="Fan-service hub API",
    version="1",
    page_templates={},  # no documentation pages (they would load scripts from a CDN): the JSON document only
    annotations=True,
    validation_error_status=400,
    validation_error_model=ValidationErrorOut,
    before=_on_request_checked,
    after=_on_response_checked,
    naming_strategy=_schema_name,
    nested_naming_strategy=lambda _parent, child: child,
    security_schemes=[
        SecurityScheme(name="session", data=SecuritySchemeData(
            type="apiKey", field_in="cookie", name="session",
            description="The console session from POST /login; writes also need the X-CSRFToken header.")),
        SecurityScheme(name="bearer", data=SecuritySchemeData(
            type="http", scheme="bearer",
            description="A per-user API token from `hub tokens create EMAIL`; acts with that user's role.")),
    ],
    security=[{"session": []}, {"bearer": []}],
)


def state() -> Any:
    return current_app.extensions["hub"]


def error(status: int, message: str, **extra: Any) -> tuple[FlaskResponse, int]:
    """The JSON error answer `{"error": message, **extra}` with its status, and a log line."""
    log.info("API error answered", extra={"path": request.path, "method": request.method, "status": status,
                                          "error": message})
    return jsonify(error=message, **extra), status


def require(*roles: str) -> tuple[FlaskResponse, int] | None:
    """None when the caller may go on; else the JSON error to return (401 or 403). Admin passes every check."""
    if not current_user.is_authenticated:
        return error(401, "log in first (POST /login), or send 'Authorization: Bearer TOKEN' (hub tokens create)")
    if current_user.role != "admin" and roles and current_user.role not in roles:
        return error(403, f"this needs the role {' or '.join(roles)}")
    return None


def endpoint(*roles: str, public: bool = False, json: type[BaseModel] | None = None,
             query: type[BaseModel] | None = None, resp: Response | None = None,
             tags: tuple[str, ...] | list[str] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare an API route (under `@bp.get(...)` etc.): the roles it needs (none: any signed-in user; `public=True`:
    nobody needs to sign in), its body and query models and its answers' models, all in the OpenAPI document."""
    resp = resp or Response(HTTP_200=None)
    if not public:
        resp.add_model(401, ErrorOut, replace=False, description="not signed in, or the token is bad")
        resp.add_model(403, ErrorOut, replace=False, description="the user's role may not do this")

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        validated = api.validate(json=json, query=query, resp=resp, tags=tags, security={} if public else None)(view)

        @wraps(validated)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not public and (denied := require(*roles)):
                return denied
            if json is not None and (refused := _unreadable_body()):
                return refused
            return validated(*args, **kwargs)

        if roles:
            summary = (view.__doc__ or view.__name__).rstrip()
            guarded.__doc__ = f"{summary}\n\nRoles: {', '.join(roles)} (and admin)."
        guarded.api_access = "public" if public else roles  # type: ignore[attr-defined]  # tests check every route has it
        return guarded

    return decorate


def _unreadable_body() -> tuple[FlaskResponse, int] | None:
    """A body that is not JSON gets a 400 here (spectree would read it as `{}`); an empty one is `{}`."""
    if request.method in ("GET", "HEAD", "DELETE", "OPTIONS") or not request.get_data(cache=True).strip():
        return None
    if not request.is_json:
        return _refuse_body("send the body as JSON (Content-Type: application/json)")
    try:
        parsed = jsonlib.loads(request.get_data(cache=True))
    except ValueError as exc:
        return _refuse_body(f"the body is not valid JSON: {exc}")
    return None if isinstance(parsed, dict) else _refuse_body("the body must be a JSON object ({...})")


def _refuse_body(message: str) -> tuple[FlaskResponse, int]:
    log.warning("API request refused", extra={"path": request.path, "method": request.method, "status": 400,
                                              "error": message})
    return jsonify(ValidationErrorOut(error=message).model_dump()), 400


@bp.get("/openapi.json")
@endpoint(public=True, resp=Response(HTTP_200=(None, "an OpenAPI 3.1 document")), tags=["meta"])
def openapi() -> Any:
    """This document"""
    document = copy.deepcopy(api.spec)  # generated once from the routes, then cached by spectree
    prefix = bp.url_prefix or ""
    document["paths"] = {path.removeprefix(prefix): operations for path, operations in document["paths"].items()}
    document["servers"] = [{"url": request.host_url.rstrip("/") + prefix}]
    return jsonify(document)


class StatsOut(BaseModel):
    """The figures of `hub stats` (more may follow)."""

    model_config = ConfigDict(extra="allow")
    fans: int
    messages_in: int
    messages_out: int
    messages_out_failed: int
    messages_pending: int
    tickets: int
    tickets_open: int
    tickets_assigned: int
    jobs_queued: int | None = Field(description="null while Redis is unreachable")
    jobs_failed: int | None = Field(description="null while Redis is unreachable")
    redis: str


@bp.get("/stats")
@endpoint("agent", "operator", resp=Response(HTTP_200=StatsOut), tags=["stats"])
def stats() -> Any:
    """Counts of fans, messages, tickets and jobs"""
    return jsonify(collect(state()))
