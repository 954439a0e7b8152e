"""Operations endpoints: liveness, readiness (database and Redis) and Prometheus metrics."""

from __future__ import annotations

import redis
from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from hub.core import metrics
from hub.core.state import HubState

bp = Blueprint("health", __name__)


def _state() -> HubState:
    return current_app.extensions["hub"]


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    state = _state()
    checks: dict[str, str] = {}
    try:
        with state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        state.redis.ping()
        checks["redis"] = "ok"
    except redis.RedisError as exc:
        # Webhooks still accept and store messages without Redis; jobs wait for the sweeper.
        checks["redis"] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    # What features report about themselves without failing readiness (e.g. which KB retriever runs).
    details = dict(state.caches.get("readyz_details") or {})
    return jsonify(status="ready" if ready else "degraded", checks=checks, details=details), 200 if ready else 503


@bp.get("/metrics")
def metrics_endpoint() -> Response:
    return Response(metrics.render(_state()), mimetype=CONTENT_TYPE_LATEST)
