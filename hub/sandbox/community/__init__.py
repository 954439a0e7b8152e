"""A local emulation of a Discourse forum's HTTP API, for the hub's tests and demo (the `community` channel).

Standalone: imports flask, jinja2 and requests, never the rest of the hub.

- `create_sandbox_app(state=None)`: Flask app serving the forum API (POST /posts.json with Api-Key and
  Api-Username, GET /t/<id>.json, GET /posts/<id>.json) and /sandbox/... (keys, webhook, say, edit, redeliver,
  ping, faults, settings, topics, deliveries, stats, reset) and a page at / to read the forum.
- `ForumState`: the thread-safe in-memory forum behind it.
- `build`, `signature`: Discourse's signed webhook deliveries, for playing forum users.
- `serve(host, port)`: run the app on a threaded werkzeug server.
"""

from .app import create_sandbox_app, make_sandbox_server, serve
from .delivery import build, signature
from .state import ForumState

__all__ = ["ForumState", "build", "create_sandbox_app", "make_sandbox_server", "serve", "signature"]
