"""The console's entry: where each role lands after signing in, the overview of figures, and the user's choice of
language. The agent's workspace is hub.web.agent, the admin's pages hub.web.admin."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from hub.core.db import session_scope
from hub.core.models import User
from hub.tickets import list_tickets
from hub.web.i18n import LOCALES
from hub.web.stats import collect

bp = Blueprint("console", __name__)


@bp.get("/")
@login_required
def home() -> Any:
    if current_user.role in ("agent", "admin"):
        return redirect(url_for("agent.queue"))
    return redirect(url_for("console.overview"))


@bp.get("/overview")
@login_required
def overview() -> Any:
    state = current_app.extensions["hub"]
    tickets, _ = list_tickets(state, status="open,assigned,waiting")
    return render_template("home.html", stats=collect(state), tickets=tickets)


@bp.post("/me/locale")
@login_required
def set_locale() -> Any:
    locale = request.form.get("locale", "")
    if locale not in LOCALES:
        abort(400, description=f"the console speaks {', '.join(LOCALES)}")
    with session_scope(current_app.extensions["hub"].engine) as session:
        user = session.get(User, int(current_user.id))
        if user is None:
            abort(404)
        user.locale = locale
        session.add(user)
    target = request.referrer or url_for("console.home")
    return redirect(target if target.startswith(request.host_url) else url_for("console.home"))
