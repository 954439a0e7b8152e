"""Per-user API tokens: `hub tokens`, `Authorization: Bearer TOKEN` on /api/v1 with the user's role, no CSRF for
bearer requests (still CSRF for cookie sessions), 401 for bad tokens, and tokens never logged."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from click.testing import CliRunner
from sqlmodel import Session, select
from werkzeug.security import generate_password_hash

from hub.core.db import session_scope
from hub.core.models import User
from hub.web.models import ApiToken
from hub.web.tokens import TokenError, create_token, list_tokens, revoke_token, user_for_token

PASSWORD = "correct-horse"


@pytest.fixture
def users(state: Any) -> None:
    with session_scope(state.engine) as session:
        for email, role in (("agent@x.test", "agent"), ("op@x.test", "operator"), ("admin@x.test", "admin")):
            session.add(User(email=email, role=role, password_hash=generate_password_hash(PASSWORD)))
        session.add(User(email="gone@x.test", role="operator", active=False, password_hash="x"))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_acts_with_its_users_role(app: Any, state: Any, users: None) -> None:
    client = app.test_client()
    agent = create_token(state.engine, "Agent@x.test", "ci")
    operator = create_token(state.engine, "op@x.test")
    assert agent.startswith("hub_") and len(agent) > 40 and agent != operator

    stats = client.get("/api/v1/stats", headers=_bearer(agent))
    assert stats.status_code == 200 and {"fans", "tickets", "jobs_queued"} <= stats.get_json().keys()
    assert "Set-Cookie" not in stats.headers  # a bearer request starts no session
    denied = client.get("/api/v1/kb/proposals", headers=_bearer(agent))
    assert denied.status_code == 403 and "operator" in denied.get_json()["error"]
    assert client.get("/api/v1/kb/proposals", headers=_bearer(operator)).get_json() == []
    admin = create_token(state.engine, "admin@x.test")
    assert client.get("/api/v1/kb/proposals", headers=_bearer(admin)).status_code == 200


def test_bearer_writes_need_no_csrf_but_cookie_writes_still_do(app: Any, state: Any, users: None) -> None:
    token = create_token(state.engine, "op@x.test")
    client = app.test_client()
    created = client.post("/api/v1/tags", json={"name": "美妆", "kind": "manual"}, headers=_bearer(token))
    assert created.status_code == 201 and created.get_json()["name"] == "美妆"

    browser = app.test_client()
    page = browser.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    browser.post("/login", data={"email": "op@x.test", "password": PASSWORD, "csrf_token": csrf})
    assert browser.get("/api/v1/stats").status_code == 200
    assert browser.post("/api/v1/tags", json={"name": "母婴", "kind": "manual"}).status_code == 400  # no CSRF token
    with_csrf = browser.post("/api/v1/tags", json={"name": "母婴", "kind": "manual"}, headers={"X-CSRFToken": csrf})
    assert with_csrf.status_code == 201


def test_a_bearer_request_ignores_the_session_cookie(app: Any, state: Any, users: None) -> None:
    browser = app.test_client()
    page = browser.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    browser.post("/login", data={"email": "op@x.test", "password": PASSWORD, "csrf_token": csrf})
    agent = create_token(state.engine, "agent@x.test")
    # The operator's cookie rides along, but the token decides: an agent may not read proposals.
    assert browser.get("/api/v1/kb/proposals", headers=_bearer(agent)).status_code == 403
    assert browser.get("/api/v1/kb/proposals", headers=_bearer("hub_wrong")).status_code == 401
    assert browser.get("/api/v1/kb/proposals").status_code == 200  # the session itself is untouched
    home = browser.get("/overview").get_data(as_text=True)
    logout = browser.post("/logout", data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"',
                                                                   home).group(1)})
    assert logout.status_code == 302 and browser.get("/api/v1/stats").status_code == 401


@pytest.mark.parametrize("header", [
    "Bearer hub_not-a-token-that-exists", "Bearer something-else", "Bearer ", "Basic dXNlcjpwYXNz", "hub_abc",
])
def test_unknown_and_malformed_tokens_get_401(app: Any, state: Any, users: None, header: str) -> None:
    response = app.test_client().get("/api/v1/stats", headers={"Authorization": header})
    assert response.status_code == 401
    assert "hub tokens create" in response.get_json()["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_tokens_and_deactivated_users_get_401(app: Any, state: Any, users: None) -> None:
    client = app.test_client()
    token = create_token(state.engine, "agent@x.test", "laptop")
    assert client.get("/api/v1/stats", headers=_bearer(token)).status_code == 200
    [row] = list_tokens(state.engine, "agent@x.test")
    assert row["name"] == "laptop" and row["prefix"] == token[:8] and row["last_used_at"] is not None
    assert revoke_token(state.engine, row["id"]) is True
    assert revoke_token(state.engine, row["id"]) is False
    refused = client.get("/api/v1/stats", headers=_bearer(token))
    assert refused.status_code == 401 and "revoked" in refused.get_json()["error"]

    other = create_token(state.engine, "op@x.test")
    with session_scope(state.engine) as session:
        session.exec(select(User).where(User.email == "op@x.test")).one().active = False
    assert client.get("/api/v1/stats", headers=_bearer(other)).status_code == 401
    with pytest.raises(TokenError, match="deactivated"):
        create_token(state.engine, "op@x.test")
    with pytest.raises(TokenError, match="no user"):
        create_token(state.engine, "nobody@x.test")
    with pytest.raises(TokenError, match="no API token"):
        revoke_token(state.engine, 999)


def test_only_the_digest_is_stored_and_last_use_is_written_once_a_minute(state: Any, users: None) -> None:
    token = create_token(state.engine, "agent@x.test")
    with Session(state.engine) as session:
        row = session.exec(select(ApiToken)).one()
    assert token not in (row.token_hash, row.prefix, row.name) and len(row.token_hash) == 64
    assert user_for_token(state.engine, token).email == "agent@x.test"  # type: ignore[union-attr]
    with Session(state.engine) as session:
        first = session.exec(select(ApiToken.last_used_at)).one()
    user = user_for_token(state.engine, token)
    with Session(state.engine) as session:
        assert session.exec(select(ApiToken.last_used_at)).one() == first  # not again within the minute
    assert user is not None and (user.role, user.token_id) == ("agent", row.id)


def test_tokens_are_never_logged(app: Any, state: Any, users: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = create_token(state.engine, "agent@x.test")
    client = app.test_client()
    client.get("/api/v1/stats", headers=_bearer(token))
    client.get("/api/v1/kb/proposals", headers=_bearer(token))  # 403
    client.post("/api/v1/tags", json={"name": 5}, headers=_bearer(token))
    revoke_token(state.engine, list_tokens(state.engine)[0]["id"])
    client.get("/api/v1/stats", headers=_bearer(token))  # 401
    client.get("/api/v1/stats", headers=_bearer(token + "x"))  # unknown
    assert any("bearer authentication failed" in r.getMessage() for r in caplog.records)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert token[8:] not in logged


def test_hub_tokens_commands(app: Any, state: Any, users: None, hub_config: dict[str, Any]) -> None:
    from hub.cli import cli

    env = {f"HUB_{k.upper()}": str(v) for k, v in hub_config.items()}
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)

    created = run("tokens", "create", "op@x.test", "--name", "ci")
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert re.fullmatch(r"hub_[A-Za-z0-9_-]{43}", token), created.stdout  # only the token on stdout
    assert app.test_client().get("/api/v1/kb/proposals", headers=_bearer(token)).status_code == 200

    listed = run("tokens", "list", "op@x.test")
    assert listed.exit_code == 0 and token[:8] in listed.output and token not in listed.output
    token_id = list_tokens(state.engine)[0]["id"]
    assert run("tokens", "revoke", str(token_id)).exit_code == 0
    assert app.test_client().get("/api/v1/stats", headers=_bearer(token)).status_code == 401
    for args, reason in ((("tokens", "create", "nobody@x.test"), "no user"),
                         (("tokens", "create", "gone@x.test"), "deactivated"),
                         (("tokens", "revoke", "999"), "no API token")):
        failed = run(*args)
        assert failed.exit_code != 0 and reason in failed.output
        assert len(failed.output.strip().splitlines()) == 1
