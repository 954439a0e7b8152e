"""Who may open the agent's pages: a signed-in agent or admin. Without a session the page redirects to /login
(Flask-Login); an operator gets 403."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, current_app
from flask_babel import gettext
from flask_login import current_user, login_required

from hub.core.state import HubState

ROLES = ("agent", "admin")


def agent_page(view: Callable[..., Any]) -> Callable[..., Any]:
    """Sign-in required; agents and admins only."""
    @wraps(view)
    @login_required
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if current_user.role not in ROLES:
            abort(403, description=gettext("The agent's workspace is for agents and admins."))
        return view(*args, **kwargs)

    return guarded


def hub() -> HubState:
    return current_app.extensions["hub"]


def me() -> int:
    return int(current_user.id)
