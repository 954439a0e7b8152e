"""Console login: sessions, CSRF, throttling, safe redirects, roles on the API, escaped output."""

from __future__ import annotations

import re
from typing import Any

import pytest
from werkzeug.security import generate_password_hash

from hub.db import session_scope
from hub.models import User


@pytest.fixture
def users(state: Any) -> None:
    with session_scope(state.engine) as session:
        for email, role in (("agent@x.test", "agent"), ("op@x.test", "operator")):
            session.add(User(email=email, role=role, password_hash=generate_password_hash("correct-horse")))
        session.add(User(email="<script>@x.test", role="agent", display_name="<script>alert(1)</script>",
                         password_hash=generate_password_hash("correct-horse")))


def _csrf(client: Any, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def _login(client: Any, email: str, password: str, next_url: str = "") -> Any:
    token = _csrf(client)
    return client.post(f"/login{next_url}", data={"email": email, "password": password, "csrf_token": token})


def test_login_logout_and_protected_pages(app: Any, users: None) -> None:
    client = app.test_client()
    assert client.get("/").status_code == 302  # to /login
    assert client.get("/api/v1/stats").status_code == 401
    response = _login(client, "agent@x.test", "correct-horse")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    stats = client.get("/api/v1/stats").get_json()
    assert {"fans", "messages_in", "messages_out", "tickets", "jobs_failed", "jobs_queued"} <= stats.keys()
    page = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_password_and_unknown_user_look_the_same(app: Any, users: None) -> None:
    client = app.test_client()
    wrong = _login(client, "agent@x.test", "wrong-password")
    unknown = _login(client, "nobody@x.test", "wrong-password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong e-mail or password." in wrong.get_data(as_text=True)


def test_login_without_csrf_token_is_refused(app: Any, users: None) -> None:
    client = app.test_client()
    response = client.post("/login", data={"email": "agent@x.test", "password": "correct-horse"})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_repeated_failures_are_throttled(app: Any, users: None) -> None:
    client = app.test_client()
    for _ in range(10):
        assert _login(client, "agent@x.test", "guess").status_code == 401
    assert _login(client, "agent@x.test", "correct-horse").status_code == 429


def test_no_open_redirect_after_login(app: Any, users: None) -> None:
    client = app.test_client()
    response = _login(client, "agent@x.test", "correct-horse", "?next=https://evil.example/")
    assert response.headers["Location"] == "/"


def test_user_supplied_text_is_escaped(app: Any, users: None) -> None:
    client = app.test_client()
    _login(client, "<script>@x.test", "correct-horse")
    page = client.get("/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_openapi_document_lists_the_routes(app: Any) -> None:
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    assert {"/stats", "/tickets", "/openapi.json"} <= document["paths"].keys()


def test_health_endpoints(app: Any) -> None:
    client = app.test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"] == {"database": "ok", "redis": "ok"}
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "hub_queue_depth" in metrics and "hub_http_requests_total" in metrics
