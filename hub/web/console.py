"""The console's pages (the agent and operator consoles grow here)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template
from flask_login import login_required

from hub.tickets import list_tickets
from hub.web.stats import collect

bp = Blueprint("console", __name__)


@bp.get("/")
@login_required
def home() -> Any:
    state = current_app.extensions["hub"]
    tickets, _ = list_tickets(state, status="open,assigned,waiting")
    return render_template("home.html", stats=collect(state), tickets=tickets)
