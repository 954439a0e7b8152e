"""How the admin's pages change things: one transaction, then the effects (routing, live updates), and the answer
a page gives — back to a page with a message (Post/Redirect/Get), or the form again with its errors."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import current_app, flash, redirect
from flask_babel import gettext
from flask_login import current_user
from sqlmodel import Session

from hub.core.db import session_scope
from hub.core.state import HubState
from hub.tickets import Effects, TicketError, run_effects

log = logging.getLogger("hub.web.admin")


class Refused(Exception):
    """A change the admin's page refuses before touching anything: `message` is shown (already translated)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field = message, field


def hub_state() -> HubState:
    return current_app.extensions["hub"]


def me() -> int:
    return int(current_user.id)


def apply(change: Callable[[Session, Effects], Any], what: str, **log_fields: Any) -> str | None:
    """Run `change` in one transaction and then its effects; None when done, else why it was refused (nothing
    changed). Every change and refusal is logged with the admin who made it."""
    state, fx = hub_state(), Effects()
    try:
        with session_scope(state.engine) as session:
            change(session, fx)
    except Refused as exc:
        log.warning("admin change refused", extra={"change": what, "admin_id": me(), **log_fields,
                                                   "reason": exc.message})
        return exc.message
    except TicketError as exc:
        log.warning("admin change refused", extra={"change": what, "admin_id": me(), **log_fields,
                                                   "reason": exc.message})
        return gettext("The change was refused: %(reason)s", reason=exc.message)
    run_effects(state, fx)
    log.info("admin change", extra={"change": what, "admin_id": me(), **log_fields})
    return None


def done(target: str, message: str) -> Any:
    flash(message, "ok")
    return redirect(target)


def refused(target: str, message: str) -> Any:
    flash(message, "error")
    return redirect(target)
