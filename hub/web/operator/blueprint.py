"""The operator blueprint: who may come in (operators and admins) and how a refusal looks."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, url_for
from flask_babel import gettext
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from hub.web.auth import login_manager

ROLES = ("operator", "admin")
bp = Blueprint("operator", __name__, url_prefix="/operator")


@bp.before_request
def _operators_only() -> Any:
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.role not in ROLES:
        abort(403)
    return None


@bp.errorhandler(403)
@bp.errorhandler(404)
def _refused(error: HTTPException) -> Any:
    """The operator's 403 and 404 as a page of the console, in the reader's language."""
    reason = gettext("These pages are for community operators and admins.") if error.code == 403 else (
        error.description if error.description and "requested URL" not in error.description
        else gettext("There is no such page."))
    return render_template("admin/error.html", reason=reason, code=error.code), error.code


@bp.get("/")
def home() -> Any:
    """The workspace's first page: the dashboards, or the first part that exists."""
    for endpoint in ("operator.dashboards", "operator.audiences", "operator.tags"):
        if endpoint in current_app.view_functions:
            return redirect(url_for(endpoint))
    abort(404)
