"""A local emulation of the WeChat Official Account HTTP API, for the hub's tests and demo.

Standalone: imports flask, wechatpy, requests and jinja2, never the rest of the hub.

- `create_sandbox_app(state=None)`: Flask app serving /cgi-bin/... (token, message/custom/send, user/info,
  user/get, tags/...) and /sandbox/... (apps, fans, say, outbox, conversation, faults, stats, reset, clock).
- `SandboxState`: the thread-safe in-memory state behind it.
- `FanSimulator`: sends signed (optionally encrypted) fan messages to a hub webhook, with or without the app.
- `serve(host, port)`: run the app on a threaded werkzeug server.
"""

from .app import create_sandbox_app, make_sandbox_server, serve
from .errors import ApiError
from .fan import FanSimulator, SimResult
from .state import SandboxState

__all__ = [
    "ApiError",
    "FanSimulator",
    "SandboxState",
    "SimResult",
    "create_sandbox_app",
    "make_sandbox_server",
    "serve",
]
