"""Where the channels' webhooks join the hub's WSGI app: below /webhooks/<channel>, in front of Flask.

Webhooks are plain WSGI apps (no cookie session, login, CSRF or Flask request context to run on every fan
message: WeChat signs its requests instead). This module gives them what the console gets from its Flask
hooks: the request metrics, the nosniff header, a 503 when the database is down (not stored means not
accepted, so WeChat retries and nothing is lost) and a logged 500 for anything unexpected.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import OperationalError
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.wrappers import Response

from hub.core import metrics

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger("hub.intake.webhooks")

WEBHOOK_PREFIX = "/webhooks/"
_METHODS = frozenset(("GET", "HEAD", "POST"))  # any other method is counted as "other": labels stay few


class InstrumentedWebhook:
    """One channel's webhook app with metrics (labelled like the console's Flask routes) and error pages."""

    def __init__(self, channel: str, app: WSGIApplication) -> None:
        self.app = app
        self.endpoint = f"{WEBHOOK_PREFIX}{channel}/<key>"
        self._latency = metrics.LATENCY.labels(self.endpoint)
        self._counters: dict[tuple[str, str], Any] = {}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        status = ["500"]

        def recording_start(code: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            status[0] = code[:3]
            headers.append(("X-Content-Type-Options", "nosniff"))
            return start_response(code, headers, exc_info)

        try:
            body = self.app(environ, recording_start)
        except OperationalError as exc:
            log.error("database unavailable",
                      extra={"path": environ.get("PATH_INFO"), "error": type(exc.orig).__name__})
            body = _json_error("database unavailable, retry later", 503)(environ, recording_start)
        except Exception:
            log.exception("webhook failed", extra={"path": environ.get("PATH_INFO")})
            body = _json_error("internal error", 500)(environ, recording_start)
        method = environ.get("REQUEST_METHOD", "")
        self._count(method if method in _METHODS else "other", status[0]).inc()
        self._latency.observe(time.perf_counter() - started)
        return body

    def _count(self, method: str, status: str) -> Any:
        counter = self._counters.get((method, status))
        if counter is None:  # labels() costs more than the increment: keep the children
            counter = self._counters[(method, status)] = metrics.REQUESTS.labels(self.endpoint, method, status)
        return counter


def _json_error(message: str, status: int) -> Response:
    return Response(json.dumps({"error": message}), status=status, mimetype="application/json")


def mount_webhooks(console: WSGIApplication, webhooks: Mapping[str, WSGIApplication]) -> WSGIApplication:
    """`console` with each channel's webhook app mounted at /webhooks/<channel> (SCRIPT_NAME set, PATH_INFO
    "/<key>"); every other path goes to `console`."""
    mounts = {f"{WEBHOOK_PREFIX}{name}": InstrumentedWebhook(name, app) for name, app in webhooks.items()}
    return DispatcherMiddleware(console, mounts)
