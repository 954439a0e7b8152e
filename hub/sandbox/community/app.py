"""The forum sandbox's Flask app and a threaded server for it."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, make_server

from hub.sandbox.serving import serve_until_interrupted

from .api import api_blueprint
from .control import control_blueprint
from .state import ForumState

log = logging.getLogger(__name__)


def create_sandbox_app(state: ForumState | None = None) -> Flask:
    """A Flask app emulating Discourse's API (/posts.json, /t/<id>.json, /posts/<id>.json) plus /sandbox/."""
    app = Flask(__name__)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["sandbox_community"] = state = state or ForumState()
    app.register_blueprint(api_blueprint(state))
    app.register_blueprint(control_blueprint(state))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        log.info("forum sandbox: %s %s -> %s", request.method, request.path, exc.code)
        return jsonify({"errors": [f"{exc.name}: {exc.description}"]}), exc.code or 500

    return app


def make_sandbox_server(host: str = "127.0.0.1", port: int = 0, state: ForumState | None = None) -> BaseWSGIServer:
    """A threaded werkzeug server (port 0 picks a free one: see `server.server_port`). The request log never
    shows the Api-Key: it travels in a header, and werkzeug logs only the request line."""
    return make_server(host, port, create_sandbox_app(state), threaded=True)


def serve(host: str = "127.0.0.1", port: int = 8083, state: ForumState | None = None) -> None:
    """Run the sandbox until interrupted (what `hub sandbox community --port N` runs)."""
    serve_until_interrupted(make_sandbox_server(host, port, state), "forum sandbox", log)
