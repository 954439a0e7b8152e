"""Console authentication: Flask-Login sessions, CSRF on every form and API write, roles, login throttling."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import redis
from flask import Blueprint, Flask, current_app, redirect, render_template, request, url_for
from flask_login import LoginManager, UserMixin, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from sqlmodel import Session, select
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from hub.models import User

log = logging.getLogger("hub.auth")
bp = Blueprint("auth", __name__)
csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.session_protection = "strong"

MAX_FAILURES = 10  # per e-mail and address within the window
FAILURE_WINDOW_SECONDS = 15 * 60
# Checked against when the e-mail is unknown, so a wrong address costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class ConsoleUser(UserMixin):
    def __init__(self, user: User) -> None:
        self.id = str(user.id)
        self.email = user.email
        self.role = user.role
        self.display_name = user.display_name or user.email


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


def init_auth(app: Flask) -> None:
    csrf.init_app(app)
    login_manager.init_app(app)
    app.register_blueprint(bp)


@login_manager.user_loader
def _load(user_id: str) -> ConsoleUser | None:
    state = current_app.extensions["hub"]
    with Session(state.engine) as session:
        user = session.get(User, int(user_id)) if user_id.isdigit() else None
    return ConsoleUser(user) if user and user.active else None


def _throttle_key(email: str) -> str:
    return f"hub:login-failures:{email}:{request.remote_addr}"


def _failures(email: str) -> int:
    try:
        value = current_app.extensions["hub"].redis.get(_throttle_key(email))
    except redis.RedisError:
        return 0
    return int(value or 0)


def _record_failure(email: str) -> None:
    try:
        client = current_app.extensions["hub"].redis
        pipe = client.pipeline()
        pipe.incr(_throttle_key(email))
        pipe.expire(_throttle_key(email), FAILURE_WINDOW_SECONDS)
        pipe.execute()
    except redis.RedisError:
        pass


def _safe_next(target: str | None) -> str:
    # Only same-site paths: never redirect to another host after login.
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("console.home")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    error = None
    status = 200
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        if _failures(email) >= MAX_FAILURES:
            log.warning("login throttled", extra={"email": email, "remote": request.remote_addr})
            error, status = "Too many failed attempts. Wait 15 minutes and try again.", 429
        else:
            state = current_app.extensions["hub"]
            with Session(state.engine) as session:
                user = session.exec(select(User).where(User.email == email)).first()
            valid = check_password_hash(user.password_hash if user else _DUMMY_HASH, form.password.data)
            if user and user.active and valid:
                login_user(ConsoleUser(user))
                log.info("login", extra={"user_id": user.id, "role": user.role})
                return redirect(_safe_next(request.args.get("next")))
            _record_failure(email)
            log.warning("login failed", extra={"email": email, "remote": request.remote_addr})
            error, status = "Wrong e-mail or password.", 401
    elif request.method == "POST":
        error, status = "The form expired or was incomplete. Please try again.", 400
    return render_template("login.html", form=form, error=error), status


@bp.post("/logout")
@login_required
def logout() -> Any:
    logout_user()
    return redirect(url_for("auth.login"))
