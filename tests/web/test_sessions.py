"""Console sessions (issue 17): logout ends every copy of a session, idle and absolute expiry, deactivation and
password changes end sessions, the cookie is Secure over HTTPS (and behind a configured proxy only)."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
import redis
from sqlmodel import select
from werkzeug.security import generate_password_hash

import hub.web.auth
from hub.app import create_app
from hub.core.db import session_scope
from hub.core.models import User

EMAIL, PASSWORD = "agent@x.test", "correct-horse"


@pytest.fixture
def user(state: Any) -> None:
    with session_scope(state.engine) as session:
        session.add(User(email=EMAIL, role="agent", password_hash=generate_password_hash(PASSWORD)))


def _login(client: Any, base_url: str = "http://localhost", headers: dict[str, str] | None = None) -> Any:
    # Over HTTPS Flask-WTF also wants a same-origin Referer, as browsers send.
    headers = {"Referer": base_url.replace("http:", "https:") + "/login", **(headers or {})}
    page = client.get("/login", base_url=base_url, headers=headers).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    return client.post("/login", base_url=base_url, headers=headers,
                       data={"email": EMAIL, "password": PASSWORD, "csrf_token": token})


def _logout(client: Any) -> None:
    page = client.get("/overview").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302


def _copy(app: Any, client: Any) -> Any:
    """A second browser holding a copy of the first one's session cookie (same address and user agent)."""
    other = app.test_client()
    other.set_cookie("session", client.get_cookie("session").value)
    return other


def _session_cookie(response: Any) -> str:
    return next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))


def test_a_copied_cookie_stops_working_after_logout(app: Any, user: None) -> None:
    client = app.test_client()
    assert _login(client).status_code == 302
    copy = _copy(app, client)
    assert copy.get("/overview").status_code == 200  # the copy is the same session...
    _logout(client)
    assert client.get("/overview").status_code == 302
    assert copy.get("/overview").status_code == 302  # ...and ends with it
    assert copy.get("/api/v1/stats").status_code == 401


def test_logging_in_again_starts_a_new_session(app: Any, user: None) -> None:
    first, second = app.test_client(), app.test_client()
    _login(first)
    _login(second)
    _logout(second)
    assert first.get("/overview").status_code == 200  # logging out in one browser leaves the others alone


def test_deactivation_and_password_change_end_sessions(app: Any, state: Any, user: None) -> None:
    client = app.test_client()
    _login(client)
    with session_scope(state.engine) as session:
        session.exec(select(User).where(User.email == EMAIL)).one().password_hash = generate_password_hash("new-pw-1")
    assert client.get("/overview").status_code == 302
    with session_scope(state.engine) as session:
        session.exec(select(User).where(User.email == EMAIL)).one().password_hash = generate_password_hash(PASSWORD)
    _login(client)
    assert client.get("/overview").status_code == 200
    with session_scope(state.engine) as session:
        session.exec(select(User).where(User.email == EMAIL)).one().active = False
    assert client.get("/overview").status_code == 302


def test_sessions_expire_after_inactivity(app: Any, state: Any, user: None,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    idle = state.config.session_idle_minutes * 60
    clock = [1_000_000.0]
    monkeypatch.setattr(hub.web.auth, "_now", lambda: clock[0])
    client = app.test_client()
    _login(client)
    for _ in range(4):  # activity keeps the session alive well past one idle period
        clock[0] += idle - 5
        assert client.get("/overview").status_code == 200
    clock[0] += idle + 1
    assert client.get("/overview").status_code == 302
    assert _copy(app, client).get("/overview").status_code == 302


def test_a_consoles_background_polling_does_not_keep_an_idle_session_alive(
        app: Any, state: Any, user: None, monkeypatch: pytest.MonkeyPatch) -> None:
    idle = state.config.session_idle_minutes * 60
    clock = [1_000_000.0]
    monkeypatch.setattr(hub.web.auth, "_now", lambda: clock[0])
    client = app.test_client()
    _login(client)
    background = {"X-Hub-Background": "1"}
    for _ in range(3):  # an open tab polling while nobody uses it
        clock[0] += idle / 3
        assert client.get("/overview", headers=background).status_code == 200
    clock[0] += idle / 3
    assert client.get("/overview").status_code == 302


def test_sessions_end_after_their_maximum_age(app: Any, state: Any, user: None,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_000_000.0]
    monkeypatch.setattr(hub.web.auth, "_now", lambda: clock[0])
    client = app.test_client()
    _login(client)
    step = state.config.session_idle_minutes * 60 - 5
    while clock[0] + step < 1_000_000.0 + state.config.session_max_hours * 3600:
        clock[0] += step
        assert client.get("/overview").status_code == 200
    clock[0] += step
    assert client.get("/overview").status_code == 302


def test_session_cookie_is_secure_over_https_only(app: Any, user: None) -> None:
    secure = _session_cookie(_login(app.test_client(), base_url="https://hub.example"))
    assert "; Secure" in secure and "; HttpOnly" in secure and "SameSite=Lax" in secure
    plain = _session_cookie(_login(app.test_client()))
    assert "; Secure" not in plain and "; HttpOnly" in plain and "SameSite=Lax" in plain


def test_forwarded_proto_is_trusted_only_from_configured_proxies(hub_config: dict[str, Any], user: None) -> None:
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.4"}
    untrusted = _session_cookie(_login(create_app(hub_config).test_client(), headers=forwarded))
    assert "; Secure" not in untrusted
    behind_proxy = create_app({**hub_config, "trusted_proxies": 1})
    assert "; Secure" in _session_cookie(_login(behind_proxy.test_client(), headers=forwarded))


def test_redis_down_means_503_with_a_reason(app: Any, state: Any, user: None,
                                            caplog: pytest.LogCaptureFixture) -> None:
    client = app.test_client()
    _login(client)
    working = state.redis
    state.redis = redis.Redis(port=1, socket_connect_timeout=0.2)  # nothing listens there
    try:
        with caplog.at_level(logging.WARNING, logger="hub.web.auth"):
            response = client.get("/overview")
            assert response.status_code == 503 and "session store" in response.get_data(as_text=True)
            login = _login(app.test_client())  # throttling fails open; starting a session cannot
            assert login.status_code == 503 and "请一分钟后再试" in login.get_data(as_text=True)  # "try again"
        assert any("redis" in record.getMessage().lower() for record in caplog.records)
    finally:
        state.redis = working
    assert client.get("/overview").status_code == 200  # the session outlived the outage
