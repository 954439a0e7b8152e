"""A local emulation of the WeCom (企业微信) HTTP API, for the hub's tests and demo.

Standalone: imports flask, wechatpy and requests (and the WeChat emulation's log redaction), never the rest of
the hub.

- `create_sandbox_app(state=None)`: Flask app serving /cgi-bin/gettoken, /cgi-bin/message/send and the
  /sandbox/... controls (apps, members saying something to the hub, outbox, faults, token expiry, stats).
- `SandboxState`: the thread-safe in-memory state behind it.
- `MemberSimulator`: sends encrypted, signed member messages to a hub's WeCom callback, with or without the app.
- `serve(host, port)`: run the app on a threaded werkzeug server.
"""

from .app import create_sandbox_app, make_sandbox_server, serve
from .member import MemberResult, MemberSimulator
from .state import ApiError, SandboxState

__all__ = ["ApiError", "MemberResult", "MemberSimulator", "SandboxState", "create_sandbox_app",
           "make_sandbox_server", "serve"]
