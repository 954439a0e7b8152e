"""Console authentication: server-side sessions, CSRF on every form and API write, roles, login throttling.

API requests may instead bring `Authorization: Bearer TOKEN` (hub.web.bearer): they are authenticated by the token
alone, their cookie is ignored, and CSRF does not apply to them. Every other POST/PUT/PATCH/DELETE needs the CSRF
token (a form field, or the X-CSRFToken header on the API).

A login starts a session recorded in Redis under a random id; the signed Flask cookie carries only that id
(Flask-Login's alternative-id pattern: `get_id()` returns it). Every request looks the record up, so logging
out deletes the record and ends every copy of the cookie; a session also ends when it has been idle for
HUB_SESSION_IDLE_MINUTES, HUB_SESSION_MAX_HOURS after its login, when the user is deactivated and when the
password changes (the record holds a digest of the password hash). While Redis is unreachable the console
answers 503 rather than trusting cookies it cannot check.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn
from urllib.parse import urlsplit

import redis
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_babel import format_time, gettext, lazy_gettext, ngettext
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from sqlmodel import Session, select
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from hub.core.config import Config
from hub.core.models import User
from hub.web import bearer, login_throttle

log = logging.getLogger("hub.web.auth")
bp = Blueprint("auth", __name__)
csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.session_protection = "strong"

SESSION_PREFIX = "hub:console-session:"
SEEN_RESOLUTION_SECONDS = 60  # how often a session's last use is written back
STORE_DOWN = "The session store (Redis) is unavailable; try again in a minute."
# While the store is down the reader's language cannot be looked up (it is on their session): pages say it in both.
STORE_DOWN_PAGE = "会话存储（Redis）暂时不可用，请一分钟后再试。" + STORE_DOWN
# Checked against when the e-mail is unknown, so a wrong address costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def _now() -> float:
    return time.time()


class ConsoleUser(UserMixin):
    """A user signed in through /login (a bearer-authenticated one is a hub.web.bearer.ApiUser, of the same shape)."""

    def __init__(self, user: User, session_id: str) -> None:
        self.id = str(user.id)
        self.email = user.email
        self.role = user.role
        self.display_name = user.display_name or user.email
        self.locale = user.locale
        self.session_id = session_id

    def get_id(self) -> str:
        return self.session_id  # what the cookie carries: the session, not the user


class LoginForm(FlaskForm):
    email = EmailField(lazy_gettext("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(lazy_gettext("Password"), validators=[DataRequired(), Length(max=200)])


class _SessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request came over HTTPS (HttpOnly and SameSite=Lax always)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(super().get_cookie_secure(app) or request.is_secure)

    def open_session(self, app: Flask, request: Any) -> SecureCookieSession | None:
        if bearer.is_bearer_request(request):
            return self.session_class()  # the token alone speaks for the request: its cookie is not read
        return super().open_session(app, request)


def init_auth(app: Flask) -> None:
    config: Config = app.extensions["hub"].config
    if config.trusted_proxies:
        # Only then are X-Forwarded-For (the address login throttling counts) and -Proto (Secure cookies) believed.
        hops = config.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    app.session_interface = _SessionInterface()
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # _authenticate_and_protect decides, per request
    csrf.init_app(app)
    login_manager.init_app(app)
    app.before_request(_authenticate_and_protect)
    app.register_blueprint(bp)


def _authenticate_and_protect() -> Any:
    """A bearer request is authenticated by its token (401 if it is bad) and needs no CSRF token; any other
    request that writes needs the CSRF token its session was given."""
    if bearer.is_bearer_request(request):
        return bearer.authenticate()
    if current_app.config["WTF_CSRF_ENABLED"]:
        csrf.protect(apply_exemptions=True)
    return None


def _store_unavailable(exc: redis.RedisError) -> NoReturn:
    log.error("session store unavailable (Redis)", extra={"error": type(exc).__name__, "path": request.path})
    if request.path.startswith("/api/"):
        abort(make_response(jsonify(error=STORE_DOWN), 503))
    abort(503, description=STORE_DOWN_PAGE)


def _fingerprint(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def _save(client: redis.Redis, session_id: str, record: dict[str, Any], config: Config) -> None:
    left = min(config.session_idle_minutes * 60, record["created"] + config.session_max_hours * 3600 - record["seen"])
    client.set(SESSION_PREFIX + session_id, json.dumps(record), ex=max(1, int(left) + 1))


def _start_session(user: User) -> str:
    state = current_app.extensions["hub"]
    session_id, now = secrets.token_urlsafe(32), _now()
    _save(state.redis, session_id, {"user": user.id, "pw": _fingerprint(user), "created": now, "seen": now},
          state.config)
    return session_id


def _end_session(client: redis.Redis, session_id: str) -> None:
    client.delete(SESSION_PREFIX + session_id)


login_manager.request_loader(bearer.load_user)


@login_manager.user_loader
def _load(session_id: str) -> ConsoleUser | None:
    state = current_app.extensions["hub"]
    config: Config = state.config
    try:
        raw = state.redis.get(SESSION_PREFIX + session_id)
        if raw is None:
            return None  # logged out, expired, or never started
        record, now = json.loads(raw), _now()
        idle = config.session_idle_minutes * 60
        if now - record["seen"] > idle or now - record["created"] > config.session_max_hours * 3600:
            _end_session(state.redis, session_id)
            return None
        with Session(state.engine) as session:
            user = session.get(User, record["user"])
        if user is None or not user.active or _fingerprint(user) != record["pw"]:
            _end_session(state.redis, session_id)  # deactivated, or the password changed
            return None
        # A console's own polling and heartbeat (X-Hub-Background) do not count as use: an open tab left alone
        # still ends its session after the idle time.
        if now - record["seen"] >= min(SEEN_RESOLUTION_SECONDS, idle / 4) and not _background():
            _save(state.redis, session_id, {**record, "seen": now}, config)
    except redis.RedisError as exc:
        _store_unavailable(exc)
    return ConsoleUser(user, session_id)


def _background() -> bool:
    return request.headers.get("X-Hub-Background") == "1"


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
        state = current_app.extensions["hub"]
        attempt = login_throttle.attempt_for(email)
        wait = login_throttle.wait_seconds(state.redis, attempt)
        if wait:
            log.warning("login throttled", extra={"email": email, "remote": request.remote_addr, "wait": wait})
            response = make_response(render_template("login.html", form=form, error=_throttled(wait)))
            response.status_code, response.headers["Retry-After"] = 429, str(wait)
            return response
        with Session(state.engine) as session:
            user = session.exec(select(User).where(User.email == email)).first()
        valid = check_password_hash(user.password_hash if user else _DUMMY_HASH, form.password.data)
        if user and user.active and valid:
            try:
                session_id = _start_session(user)
            except redis.RedisError as exc:
                log.error("session store unavailable (Redis)", extra={"error": type(exc).__name__})
                return render_template("login.html", form=form, error=gettext(STORE_DOWN)), 503
            login_user(ConsoleUser(user, session_id))
            log.info("login", extra={"user_id": user.id, "role": user.role})
            response = redirect(_safe_next(request.args.get("next")))
            login_throttle.remember_browser(response, email)
            return response
        login_throttle.record_failure(state.redis, attempt)
        log.warning("login failed", extra={"email": email, "remote": request.remote_addr})
        error, status = gettext("Wrong e-mail or password."), 401
    elif request.method == "POST":
        error, status = gettext("The form expired or was incomplete. Please try again."), 400
    return render_template("login.html", form=form, error=error), status


def _throttled(wait: int) -> str:
    """What a throttled login is told, in the reader's language: how long to wait, and until when (hub time)."""
    if wait < 120:
        amount = ngettext("%(num)d second", "%(num)d seconds", wait)
    else:
        amount = ngettext("%(num)d minute", "%(num)d minutes", math.ceil(wait / 60))
    until = format_time(datetime.now(UTC) + timedelta(seconds=wait), "HH:mm:ss")
    return gettext("Too many failed attempts. Try again in %(amount)s (at %(time)s).", amount=amount, time=until)


@bp.post("/logout")
@login_required
def logout() -> Any:
    try:
        _end_session(current_app.extensions["hub"].redis, current_user.get_id())
    except redis.RedisError as exc:
        _store_unavailable(exc)
    logout_user()
    return redirect(url_for("auth.login"))
