"""The web app's parts on one Flask app: sign-in, the blueprints, request metrics and security headers, and
what a database outage or a missing login answers."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, g, jsonify, redirect, request, url_for
from sqlalchemy.exc import OperationalError

from hub.core import metrics
from hub.core.health import bp as health_bp
from hub.web.admin import bp as admin_bp
from hub.web.agent import bp as agent_bp
from hub.web.api import bp as api_bp
from hub.web.auth import init_auth, login_manager
from hub.web.console import bp as console_bp
from hub.web.i18n import init_i18n
from hub.web.operator import bp as operator_bp

log = logging.getLogger("hub.web")


def init_web(app: Flask) -> None:
    init_auth(app)
    init_i18n(app)
    for blueprint in (health_bp, console_bp, agent_bp, admin_bp, operator_bp, api_bp):
        app.register_blueprint(blueprint)
    _instrument(app)
    # Which console pages exist, so a sub-navigation shows only links that lead somewhere.
    app.jinja_env.globals["url_endpoints"] = app.view_functions

    @login_manager.unauthorized_handler
    def _unauthorized() -> Any:
        if request.path.startswith("/api/"):
            return jsonify(error="log in first (POST /login), or send 'Authorization: Bearer TOKEN'"), 401
        return redirect(url_for("auth.login", next=request.path))


def _instrument(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _record(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
        metrics.LATENCY.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    @app.errorhandler(OperationalError)
    def _database_down(exc: OperationalError) -> tuple[Response, int]:
        # Not stored means not accepted: WeChat retries, so the message is not lost.
        log.error("database unavailable", extra={"path": request.path, "error": type(exc.orig).__name__})
        return jsonify(error="database unavailable, retry later"), 503
