"""Console login: sessions, CSRF, throttling, safe redirects, roles on the API, escaped output."""

from __future__ import annotations

import re
from typing import Any

import pytest
from werkzeug.security import generate_password_hash

from hub.core.db import session_scope
from hub.core.models import User


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
    assert client.get("/overview").status_code == 302  # to /login
    assert client.get("/api/v1/stats").status_code == 401
    response = _login(client, "agent@x.test", "correct-horse")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/overview").status_code == 200
    stats = client.get("/api/v1/stats").get_json()
    assert {"fans", "messages_in", "messages_out", "tickets", "jobs_failed", "jobs_queued"} <= stats.keys()
    page = client.get("/overview").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/overview").status_code == 302


def test_wrong_password_and_unknown_user_look_the_same(app: Any, users: None) -> None:
    client = app.test_client()
    wrong = _login(client, "agent@x.test", "wrong-password")
    unknown = _login(client, "nobody@x.test", "wrong-password")
    assert wrong.status_code == unknown.status_code == 401
    assert "邮箱或密码错误。" in wrong.get_data(as_text=True)  # "Wrong e-mail or password." (Chinese by default)


def test_login_without_csrf_token_is_refused(app: Any, users: None) -> None:
    client = app.test_client()
    response = client.post("/login", data={"email": "agent@x.test", "password": "correct-horse"})
    assert response.status_code == 400
    assert client.get("/overview").status_code == 302


def _client(app: Any, address: str) -> Any:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _assert_slowed(response: Any) -> int:
    assert response.status_code == 429
    wait = int(response.headers["Retry-After"])
    assert 1 <= wait <= 15 * 60
    # "Too many failed attempts. Try again in N seconds (at HH:MM:SS)." — in Chinese, the time in the hub's zone
    assert re.search(r"请 \d+ (秒|分钟)后再试（\d\d:\d\d:\d\d 之后）", response.get_data(as_text=True))
    return wait


def test_repeated_failures_are_slowed_with_retry_after(app: Any, users: None) -> None:
    client = _client(app, "203.0.113.9")
    results = [_login(client, "agent@x.test", "guess") for _ in range(10)]
    assert {response.status_code for response in results[:5]} == {401}
    assert 429 in {response.status_code for response in results}
    _assert_slowed(_login(client, "agent@x.test", "correct-horse"))


def test_the_owner_still_logs_in_after_someone_elses_failures(app: Any, users: None) -> None:
    attacker = _client(app, "203.0.113.9")
    for _ in range(20):
        _login(attacker, "agent@x.test", "guess")
    assert _login(attacker, "agent@x.test", "guess").status_code == 429
    newcomer = _client(app, "198.51.100.7")  # a new address, a browser that never logged in
    assert _login(newcomer, "agent@x.test", "correct-horse").status_code == 302
    assert newcomer.get("/overview").status_code == 200


def test_the_owner_still_logs_in_when_the_attacker_shares_the_address(app: Any, users: None) -> None:
    owner = _client(app, "192.0.2.1")  # behind an unconfigured proxy every client has the proxy's address
    assert _login(owner, "agent@x.test", "correct-horse").status_code == 302
    token = re.search(r'name="csrf_token" value="([^"]+)"', owner.get("/overview").get_data(as_text=True)).group(1)
    owner.post("/logout", data={"csrf_token": token})
    attacker = _client(app, "192.0.2.1")
    for _ in range(10):
        _login(attacker, "agent@x.test", "guess")
    assert _login(owner, "agent@x.test", "correct-horse").status_code == 302  # a browser that logged in before
    _assert_slowed(_login(attacker, "agent@x.test", "correct-horse"))  # but not just anyone with the password


def test_one_address_trying_many_emails_is_slowed(app: Any, users: None) -> None:
    import time

    client = _client(app, "203.0.113.9")
    statuses = []
    for n in range(30):
        response = _login(client, f"user{n}@x.test", "guess")
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses[:10] == [401] * 10 and statuses[-1] == 429
    wait = _assert_slowed(response)
    assert _login(_client(app, "198.51.100.7"), "user99@x.test", "guess").status_code == 401  # others are not slowed
    time.sleep(wait + 0.05)
    assert _login(client, "user99@x.test", "guess").status_code == 401  # tried again once the wait is over
    assert _assert_slowed(_login(client, "user98@x.test", "guess")) >= wait  # and each failure doubles it


def test_many_addresses_guessing_one_account_are_slowed_but_not_the_owner(app: Any, users: None) -> None:
    attackers = [_client(app, f"203.0.113.{n}") for n in range(1, 13)]
    for attacker in attackers:
        assert _login(attacker, "agent@x.test", "guess").status_code == 401  # each address's first try
    _assert_slowed(_login(attackers[-1], "agent@x.test", "guess"))  # the account is under attack: no second
    assert _login(attackers[-1], "op@x.test", "guess").status_code == 401  # other accounts are not
    assert _login(_client(app, "198.51.100.7"), "agent@x.test", "correct-horse").status_code == 302


def test_a_browser_that_logged_in_before_is_not_slowed_by_its_address(app: Any, users: None) -> None:
    owner = _client(app, "192.0.2.1")
    assert _login(owner, "agent@x.test", "correct-horse").status_code == 302
    token = re.search(r'name="csrf_token" value="([^"]+)"', owner.get("/overview").get_data(as_text=True)).group(1)
    owner.post("/logout", data={"csrf_token": token})
    neighbour = _client(app, "192.0.2.1")  # the same address: an office NAT, or a proxy not configured
    for n in range(12):
        _login(neighbour, f"user{n}@x.test", "guess")
    for _ in range(6):
        _login(neighbour, "agent@x.test", "guess")
    _assert_slowed(_login(neighbour, "agent@x.test", "correct-horse"))
    assert _login(owner, "agent@x.test", "correct-horse").status_code == 302


def test_a_known_browser_guessing_is_slowed_after_its_own_budget(app: Any, users: None) -> None:
    browser = _client(app, "192.0.2.1")
    assert _login(browser, "agent@x.test", "correct-horse").status_code == 302
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/overview").get_data(as_text=True)).group(1)
    browser.post("/logout", data={"csrf_token": token})  # a stolen known-browser cookie buys 10 guesses
    statuses = [_login(browser, "agent@x.test", "guess").status_code for _ in range(20)]
    assert statuses[:10] == [401] * 10 and 429 in statuses


def test_forwarded_addresses_count_only_behind_a_configured_proxy(hub_config: dict[str, Any]) -> None:
    from hub.app import create_app

    app = create_app({**hub_config, "trusted_proxies": 1})
    client = app.test_client()
    for n in range(12):
        client.environ_base["HTTP_X_FORWARDED_FOR"] = f"203.0.113.{n}"  # twelve addresses behind one proxy
        assert _login(client, f"user{n}@x.test", "guess").status_code == 401
    client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.1"
    assert _login(client, "user99@x.test", "guess").status_code == 401
    app.extensions["hub"].engine.dispose()


def test_no_open_redirect_after_login(app: Any, users: None) -> None:
    client = app.test_client()
    response = _login(client, "agent@x.test", "correct-horse", "?next=https://evil.example/")
    assert response.headers["Location"] == "/"


def test_user_supplied_text_is_escaped(app: Any, users: None) -> None:
    client = app.test_client()
    _login(client, "<script>@x.test", "correct-horse")
    page = client.get("/overview").get_data(as_text=True)
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
