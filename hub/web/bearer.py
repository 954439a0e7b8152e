"""Bearer tokens on the API: `Authorization: Bearer TOKEN` (from `hub tokens create EMAIL`) authenticates a request
to /api/v1 as the token's user, with that user's role.

Such a request carries no cookie authority: its session cookie is ignored (hub.web.auth opens an empty session for
it) and CSRF does not apply to it, since a browser never adds the header on its own. A malformed header, or a token
that is unknown, revoked or whose user is deactivated, answers 401 and a log line that never holds the token.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Request, current_app, g, jsonify, request
from flask_login import UserMixin

from hub.web.tokens import TokenUser, user_for_token

log = logging.getLogger("hub.web.bearer")

API_PATH = "/api/"
HOW = "create one with `hub tokens create EMAIL` and send 'Authorization: Bearer TOKEN'"


class ApiUser(UserMixin):
    """A token-authenticated user, shaped like the session's ConsoleUser: id (str), email, role, display_name."""

    def __init__(self, user: TokenUser) -> None:
        self.id = str(user.id)
        self.email = user.email
        self.role = user.role
        self.display_name = user.display_name
        self.locale = user.locale
        self.token_id = user.token_id

    def get_id(self) -> str:
        return f"token:{self.token_id}"  # never a session id: there is no session to end


def is_bearer_request(req: Request) -> bool:
    """An API request that brings its own credentials: the Authorization header, whatever its scheme."""
    return req.path.startswith(API_PATH) and "Authorization" in req.headers


def authenticate() -> tuple[Any, int, dict[str, str]] | None:
    """For a bearer request: None when the token is good (its user is then `current_user`), else the 401."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return _refuse("malformed", f"the Authorization header is not 'Bearer TOKEN': {HOW}")
    user = user_for_token(current_app.extensions["hub"].engine, token)
    if user is None:
        return _refuse("refused", f"the API token is unknown or revoked, or its user is deactivated: {HOW}")
    g.bearer_user = ApiUser(user)
    return None


def load_user(_request: Request) -> ApiUser | None:
    """Flask-Login's request loader: the user `authenticate` accepted for this request, if any."""
    return g.get("bearer_user")


def _refuse(reason: str, message: str) -> tuple[Any, int, dict[str, str]]:
    log.warning("API bearer authentication failed",
                extra={"reason": reason, "path": request.path, "method": request.method, "remote": request.remote_addr})
    return jsonify(error=message), 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
