"""The sandbox Flask app and a threaded server for it."""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from hub.sandbox.serving import serve_until_interrupted

from .api import api_blueprint
from .control import control_blueprint
from .state import SandboxState

log = logging.getLogger(__name__)
_SECRET_PARAMS = re.compile(r"((?:access_token|secret)=)[^&\s]*")


def redact(line: str) -> str:
    """Hide access tokens and app secrets in a request line before it is logged."""
    return _SECRET_PARAMS.sub(r"\1***", line)


class RedactingRequestHandler(WSGIRequestHandler):
    """werkzeug's request logging without the access token or app secret of the query string."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        line, path = self.requestline, getattr(self, "path", None)
        self.requestline = redact(line)
        if path is not None:
            self.path = redact(path)
        try:
            super().log_request(code, size)
        finally:
            self.requestline = line
            if path is not None:
                self.path = path


def create_sandbox_app(state: SandboxState | None = None) -> Flask:
    """A Flask app emulating the WeChat Official Account API (/cgi-bin/...) plus the /sandbox/ controls."""
    app = Flask(__name__)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # like the real API: UTF-8, not \u escapes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["sandbox_wechat"] = state = state or SandboxState()
    app.register_blueprint(api_blueprint(state))
    app.register_blueprint(control_blueprint(state))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        # Every answer is JSON: unknown paths and wrong methods included.
        status = exc.code or 500
        if request.path.startswith("/cgi-bin/"):
            body: dict[str, Any] = {"errcode": -1, "errmsg": f"{exc.name.lower()}: {request.path} is not emulated"}
        else:
            body = {"error": f"{exc.name}: {exc.description}"}
        return jsonify(body), status

    return app


def make_sandbox_server(host: str = "127.0.0.1", port: int = 0, state: SandboxState | None = None) -> BaseWSGIServer:
    """A threaded werkzeug server for the sandbox (port 0 picks a free one: see `server.server_port`)."""
    return make_server(host, port, create_sandbox_app(state), threaded=True, request_handler=RedactingRequestHandler)


def serve(host: str = "127.0.0.1", port: int = 8601, state: SandboxState | None = None) -> None:
    """Run the sandbox until interrupted (what `hub sandbox wechat --port N` runs)."""
    serve_until_interrupted(make_sandbox_server(host, port, state), "WeChat sandbox", log)
