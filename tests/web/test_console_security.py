"""The console's safety list (issue 20, item 6), checked over every route the app has rather than a chosen few:

- without a session every console page (and every console form) leads to /login, and every /api/v1 route but the
  OpenAPI document answers 401;
- roles: an agent gets 403 on every admin page and form, an operator 403 on every agent page;
- CSRF: every console form and every API write with the session cookie is refused (400) without the token;
- fan text with `<script>` or HTML renders as text on the overview's ticket table and the admin's pages.

Covered elsewhere, not repeated here: sessions ending after inactivity (HUB_SESSION_IDLE_MINUTES,
`session_idle_minutes`) and after their maximum age — tests/web/test_sessions.py
(test_sessions_expire_after_inactivity, test_sessions_end_after_their_maximum_age); login throttling —
tests/web/test_console_auth.py (test_repeated_failures_are_slowed_with_retry_after and the tests after it).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlmodel import select
from werkzeug.routing import Rule
from werkzeug.security import generate_password_hash

from hub.core.db import session_scope
from hub.core.models import Fan, User
from tests.support.tickets_setup import fan_message, make_account, make_agent, open_for

PASSWORD = "correct-horse"
TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
# Pages anyone may open: signing in, health and metrics (for the load balancer and Prometheus), the static files.
PUBLIC = {"auth.login", "health.healthz", "health.readyz", "health.metrics_endpoint", "static", "api.openapi"}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
VARIABLE = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # about HTTP, not the database


@pytest.fixture
def people(state: Any) -> None:
    with session_scope(state.engine) as session:
        for email, role in (("admin@x.test", "admin"), ("op@x.test", "operator")):
            session.add(User(email=email, role=role, password_hash=generate_password_hash(PASSWORD)))
    make_agent(state, "agent@x.test", status="offline")
    with session_scope(state.engine) as session:
        agent = session.exec(select(User).where(User.email == "agent@x.test")).one()
        agent.password_hash = generate_password_hash(PASSWORD)


def _url(rule: Rule) -> str:
    """The rule with every variable filled in (ids that need not exist: the checks come before the lookup)."""
    values = {name: 1 if converter == "int" else "x" for converter, name in VARIABLE.findall(rule.rule)}
    return rule.build(values, append_unknown=False)[1]


def _rules(app: Any, *, api: bool, methods: set[str]) -> list[tuple[str, str, str]]:
    """(method, url, endpoint) for every rule of the console (api=False) or of /api/v1 (api=True)."""
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC or rule.rule.startswith("/api/") != api:
            continue
        for method in sorted((rule.methods or set()) & methods):
            out.append((method, _url(rule), rule.endpoint))
    return sorted(out)


def _token(client: Any, page: str = "/login") -> str:
    return TOKEN.search(client.get(page).get_data(as_text=True)).group(1)


def _login(app: Any, email: str) -> Any:
    client = app.test_client()
    response = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": _token(client)})
    assert response.status_code == 302
    return client


def test_every_console_page_and_form_without_a_session_leads_to_login(app: Any) -> None:
    pages = _rules(app, api=False, methods={"GET"})
    assert {"/", "/overview", "/admin/users"} <= {url for _, url, _ in pages}
    client = app.test_client()
    for _, url, endpoint in pages:
        response = client.get(url)
        assert response.status_code == 302, (url, endpoint, response.status_code)
        assert response.headers["Location"].startswith("/login?next="), (url, response.headers["Location"])
    token = _token(client)  # an anonymous session's valid CSRF token: the form is refused for want of a login
    for method, url, endpoint in _rules(app, api=False, methods=WRITES):
        if endpoint == "auth.login":
            continue
        response = client.open(url, method=method, data={"csrf_token": token})
        assert response.status_code == 302 and response.headers["Location"].startswith("/login"), (url, endpoint)


def test_every_api_route_without_credentials_answers_401(app: Any) -> None:
    routes = _rules(app, api=True, methods={"GET"} | WRITES)
    assert len(routes) > 20
    client = app.test_client()
    token = _token(client)
    for method, url, endpoint in routes:
        headers = {"X-CSRFToken": token} if method in WRITES else {}
        response = client.open(url, method=method, json={}, headers=headers)
        assert response.status_code == 401, (method, url, endpoint, response.status_code)
        bad = app.test_client().open(url, method=method, json={}, headers={"Authorization": "Bearer nonsense"})
        assert bad.status_code == 401, (method, url, endpoint, bad.status_code)
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_an_agent_gets_403_on_every_admin_page_and_form(app: Any, people: None) -> None:
    agent = _login(app, "agent@x.test")
    admin_rules = [r for r in _rules(app, api=False, methods={"GET"} | WRITES) if r[2].startswith("admin.")]
    assert len(admin_rules) >= 10
    token = _token(agent, "/overview")
    for method, url, endpoint in admin_rules:
        response = agent.open(url, method=method, data={"csrf_token": token})
        assert response.status_code == 403, (method, url, endpoint, response.status_code)
    operator = _login(app, "op@x.test")
    assert operator.get("/admin/users").status_code == 403
    assert _login(app, "admin@x.test").get("/admin/users").status_code == 200


def test_an_operator_gets_403_on_every_agent_page(app: Any, people: None) -> None:
    if "agent.queue" not in app.view_functions:
        pytest.skip("the agent console (hub.web.agent, /queue) has not landed yet")
    operator = _login(app, "op@x.test")
    agent_pages = [r for r in _rules(app, api=False, methods={"GET"}) if r[2].startswith("agent.")]
    assert "/queue" in {url for _, url, _ in agent_pages}
    for _, url, endpoint in agent_pages:
        response = operator.get(url)
        assert response.status_code == 403, (url, endpoint, response.status_code)
    token = _token(operator, "/overview")
    for method, url, endpoint in _rules(app, api=False, methods=WRITES):
        if endpoint.startswith("agent."):
            assert operator.open(url, method=method, data={"csrf_token": token}).status_code == 403, url
    assert _login(app, "agent@x.test").get("/queue").status_code == 200


def test_every_console_form_needs_the_csrf_token(app: Any, people: None) -> None:
    admin = _login(app, "admin@x.test")  # an admin passes every role check: only the token is missing
    forms = _rules(app, api=False, methods=WRITES)
    assert len(forms) >= 10
    for method, url, endpoint in forms:
        response = admin.open(url, method=method, data={})
        assert response.status_code == 400, (method, url, endpoint, response.status_code)
        forged = admin.open(url, method=method, data={"csrf_token": "forged"})
        assert forged.status_code == 400, (method, url, endpoint, forged.status_code)
    assert admin.get("/admin/users").status_code == 200  # still signed in: nothing was done


def test_api_writes_with_the_session_cookie_need_the_csrf_header(app: Any, people: None) -> None:
    agent = _login(app, "agent@x.test")
    writes = _rules(app, api=True, methods=WRITES)
    for method, url, endpoint in writes:
        response = agent.open(url, method=method, json={})
        assert response.status_code == 400, (method, url, endpoint, response.status_code)
    token = _token(agent, "/overview")
    answer = agent.put("/api/v1/agents/me/status", json={"status": "online"}, headers={"X-CSRFToken": token})
    assert answer.status_code == 200 and answer.get_json()["status"] == "online"


def test_fan_html_renders_as_text_on_the_overview_and_admin_pages(app: Any, state: Any, people: None) -> None:
    account = make_account(state)
    message = fan_message(state, account, "f1", "<script>alert('subject')</script><b>bold</b>")
    with session_scope(state.engine) as session:
        session.get(Fan, message.fan_id).display_name = "<img src=x onerror=alert(1)>"
    open_for(state, message, run=False)
    with session_scope(state.engine) as session:
        session.add(User(email="evil@x.test", role="agent", display_name="<script>alert('name')</script>",
                         password_hash=generate_password_hash(PASSWORD)))
    overview = _login(app, "op@x.test").get("/overview").get_data(as_text=True)
    assert "<script>alert('subject')" not in overview and "<b>bold</b>" not in overview
    assert "&lt;script&gt;alert(&#39;subject&#39;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in overview
    assert "<img src=x" not in overview and "&lt;img src=x onerror=alert(1)&gt;" in overview
    users = _login(app, "admin@x.test").get("/admin/users").get_data(as_text=True)
    assert "<script>alert('name')" not in users and "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;" in users
