"""The admin blueprint: who may come in (admins only) and how a refusal looks."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template
from flask_babel import gettext
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from hub.web.auth import login_manager

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def _admins_only() -> Any:
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.role != "admin":
        abort(403)
    return None


@bp.errorhandler(403)
@bp.errorhandler(404)
def _refused(error: HTTPException) -> Any:
    """The admin's 403 and 404 as a page of the console, in the reader's language."""
    reason = gettext("These pages are for admins.") if error.code == 403 else gettext(
        "There is no such user or team.")
    return render_template("admin/error.html", reason=reason, code=error.code), error.code

