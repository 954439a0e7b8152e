"""The REST API (/api/v1): JSON for the consoles and integrations, described by an OpenAPI document.

Sessions from /login authenticate it; writes need the CSRF token in the X-CSRFToken header.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask_login import current_user

from hub.tickets import list_tickets
from hub.web.stats import collect

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Every route registers its OpenAPI description here, so the document cannot drift from the routes.
PATHS: dict[str, dict[str, Any]] = {}


def documented(path: str, method: str, summary: str, roles: tuple[str, ...] = (), **extra: Any) -> Callable:
    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        operation = {"summary": summary, "responses": {"200": {"description": "OK"}}, **extra}
        if roles:
            operation["responses"].update({"401": {"description": "not logged in"},
                                           "403": {"description": f"needs role {' or '.join(roles)}"}})
            operation["security"] = [{"session": []}]
        PATHS.setdefault(path, {})[method] = operation
        return view

    return decorator


def state() -> Any:
    return current_app.extensions["hub"]


def require(*roles: str) -> tuple[Any, int] | None:
    """None when the caller may go on; else the JSON error to return (401 or 403)."""
    if not current_user.is_authenticated:
        return jsonify(error="log in first (POST /login)"), 401
    if current_user.role != "admin" and roles and current_user.role not in roles:
        return jsonify(error=f"this needs the role {' or '.join(roles)}"), 403
    return None


@bp.get("/openapi.json")
@documented("/openapi.json", "get", "This document")
def openapi() -> Any:
    return jsonify(
        openapi="3.1.0",
        info={"title": "Fan-service hub API", "version": "1"},
        servers=[{"url": request.host_url.rstrip("/") + "/api/v1"}],
        components={"securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "session"}}},
        paths=PATHS,
    )


@bp.get("/stats")
@documented("/stats", "get", "Counts of fans, messages, tickets and jobs", roles=("agent", "operator"))
def stats() -> Any:
    if denied := require("agent", "operator"):
        return denied
    return jsonify(collect(state()))


@bp.get("/tickets")
@documented(
    "/tickets", "get", "Service tickets", roles=("agent", "operator"),
    parameters=[{"name": "status", "in": "query",
                 "schema": {"type": "string", "enum": ["open", "assigned", "closed"]}}],
)
def tickets() -> Any:
    if denied := require("agent", "operator"):
        return denied
    return jsonify(list_tickets(state(), request.args.get("status")))
