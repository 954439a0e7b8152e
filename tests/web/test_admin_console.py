"""The admin's pages (issue 20, item 6): users (create, deactivate, reactivate, reset password, role, language),
teams (skills, lead, members) and agents (capacity, teams, presence), through the forms as a browser posts them —
with the CSRF token, Post/Redirect/Get, field errors — and what each change does to sessions, tokens and routing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlmodel import Session, select
from werkzeug.security import generate_password_hash

from hub.core.db import session_scope
from hub.core.models import User
from hub.tags import Tag
from hub.tickets.models import ASSIGNED, OPEN, Agent, Team, TeamMember, Ticket
from hub.web.tokens import create_token
from tests.support.tickets_setup import fan_message, make_account, make_agent, make_team, open_for

PASSWORD = "correct-horse"
TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture
def people(state: Any) -> dict[str, int]:
    ids = {}
    with session_scope(state.engine) as session:
        for email, role in (("admin@x.test", "admin"), ("op@x.test", "operator")):
            user = User(email=email, role=role, display_name=email.split("@")[0],
                        password_hash=generate_password_hash(PASSWORD))
            session.add(user)
            session.flush()
            ids[email] = user.id
    ids["agent@x.test"] = make_agent(state, "agent@x.test", status="offline")
    with session_scope(state.engine) as session:
        session.get(User, ids["agent@x.test"]).password_hash = generate_password_hash(PASSWORD)
    return ids


def login(app: Any, email: str, password: str = PASSWORD) -> Any:
    client = app.test_client()
    token = TOKEN.search(client.get("/login").get_data(as_text=True)).group(1)
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def post(client: Any, page: str, action: str, data: dict[str, Any]) -> Any:
    """Submit a form of `page` as a browser does: the CSRF token from the page, then the fields."""
    token = TOKEN.search(client.get(page).get_data(as_text=True)).group(1)
    return client.post(action, data={"csrf_token": token, **data})


def text(response: Any) -> str:
    return response.get_data(as_text=True)


def user_row(state: Any, email: str) -> User:
    with Session(state.engine) as session:
        return session.exec(select(User).where(User.email == email)).one()


def test_only_admins_reach_the_admin_pages(app: Any, people: dict[str, int]) -> None:
    pages = ["/admin/", "/admin/users", f"/admin/users/{people['agent@x.test']}", "/admin/teams"]
    anonymous = app.test_client()
    for page in pages:
        response = anonymous.get(page)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login"), page
    for email in ("agent@x.test", "op@x.test"):
        client = login(app, email)
        for page in pages:
            assert client.get(page).status_code == 403, (email, page)
        assert "这些页面仅供管理员使用。" in text(client.get("/admin/users"))
    admin = login(app, "admin@x.test")
    assert admin.get("/admin/").headers["Location"] == "/admin/users"
    for page in pages[1:]:
        assert admin.get(page).status_code == 200, page


def test_the_user_list_shows_roles_languages_and_agents(app: Any, state: Any, people: dict[str, int]) -> None:
    make_team(state, "售后", ("complaint",))
    make_agent(state, "agent@x.test", ("售后",), capacity=7, status="online")
    page = text(login(app, "admin@x.test").get("/admin/users"))
    row = re.search(r'<tr[^>]*data-email="agent@x.test".*?</tr>', page, re.S).group(0)
    assert "客服" in row and "在线" in row and "0 / 7" in row and "售后" in row and "默认（中文）" in row
    operator = re.search(r'<tr[^>]*data-email="op@x.test".*?</tr>', page, re.S).group(0)
    assert "运营" in operator and "非客服" in operator


def test_creating_a_user_redirects_and_an_agent_gets_an_agent_record(app: Any, state: Any,
                                                                   people: dict[str, int]) -> None:
    admin = login(app, "admin@x.test")
    response = post(admin, "/admin/users", "/admin/users", {
        "email": "New.Agent@X.test", "name": "小李", "role": "agent", "password": "long-enough", "locale": "en"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/users"
    assert "已创建用户 new.agent@x.test。" in text(admin.get("/admin/users"))  # the flash after the redirect
    created = user_row(state, "new.agent@x.test")
    assert created.role == "agent" and created.display_name == "小李" and created.locale == "en" and created.active
    with Session(state.engine) as session:
        assert session.get(Agent, created.id).status == "offline"
    login(app, "new.agent@x.test", "long-enough")  # asserts the redirect after a good password


def test_the_user_form_shows_each_fields_error(app: Any, state: Any, people: dict[str, int]) -> None:
    admin = login(app, "admin@x.test")
    response = post(admin, "/admin/users", "/admin/users",
                    {"email": "not-an-address", "role": "agent", "password": "short", "locale": ""})
    page = text(response)
    assert response.status_code == 400
    assert "请输入邮箱地址，例如 name@example.com。" in page and "密码至少需要 8 个字符。" in page
    assert 'aria-invalid="true"' in page and 'value="not-an-address"' in page  # the form keeps what was typed
    duplicate = post(admin, "/admin/users", "/admin/users",
                     {"email": "agent@x.test", "role": "agent", "password": "long-enough", "locale": ""})
    assert duplicate.status_code == 400 and "该邮箱的用户已存在。" in text(duplicate)
    bad_role = post(admin, "/admin/users", "/admin/users",
                    {"email": "x@x.test", "role": "root", "password": "long-enough", "locale": ""})
    assert bad_role.status_code == 400
    with Session(state.engine) as session:
        assert session.exec(select(User).where(User.email == "x@x.test")).first() is None


def test_deactivation_ends_sessions_and_tokens_until_reactivated(app: Any, state: Any, worker: Any,
                                                                 people: dict[str, int]) -> None:
    agent_id = people["agent@x.test"]
    make_agent(state, "agent@x.test", status="online")
    account = make_account(state)
    ticket_id, _ = open_for(state, fan_message(state, account, "f1", "人工"))
    worker()
    state_ticket = _ticket(state, ticket_id)
    assert state_ticket.status == ASSIGNED and state_ticket.assignee_id == agent_id
    agent = login(app, "agent@x.test")
    token = create_token(state.engine, "agent@x.test")
    bearer = {"Authorization": f"Bearer {token}"}
    assert app.test_client().get("/api/v1/agents", headers=bearer).status_code == 200
    admin = login(app, "admin@x.test")
    page = f"/admin/users/{agent_id}"
    response = post(admin, page, f"{page}/deactivate", {})
    assert response.status_code == 302 and response.headers["Location"] == page
    assert "已停用" in text(admin.get(page))
    assert agent.get("/overview").status_code == 302  # the open session ended at its next request
    assert app.test_client().get("/api/v1/agents", headers=bearer).status_code == 401
    assert not user_row(state, "agent@x.test").active
    with Session(state.engine) as session:
        assert session.get(Agent, agent_id).status == "offline"  # and their ticket went back to the queue
    assert _ticket(state, ticket_id).status == OPEN and _ticket(state, ticket_id).assignee_id is None
    assert post(admin, page, f"{page}/reactivate", {}).status_code == 302
    assert app.test_client().get("/api/v1/agents", headers=bearer).status_code == 200
    login(app, "agent@x.test")


def test_an_admin_cannot_lock_themselves_out(app: Any, state: Any, people: dict[str, int]) -> None:
    admin = login(app, "admin@x.test")
    page = f"/admin/users/{people['admin@x.test']}"
    assert post(admin, page, f"{page}/deactivate", {}).status_code == 302
    assert "不能停用自己的账号。" in text(admin.get(page))
    assert post(admin, page, f"{page}/role", {"role": "agent"}).status_code == 302
    assert "不能修改自己的角色" in text(admin.get(page))
    assert user_row(state, "admin@x.test").role == "admin" and user_row(state, "admin@x.test").active


def test_a_password_reset_ends_the_users_sessions(app: Any, state: Any, people: dict[str, int]) -> None:
    operator = login(app, "op@x.test")
    admin = login(app, "admin@x.test")
    page = f"/admin/users/{people['op@x.test']}"
    short = post(admin, page, f"{page}/password", {"password": "short"})
    assert short.status_code == 400 and "密码至少需要 8 个字符。" in text(short)
    assert operator.get("/overview").status_code == 200
    assert post(admin, page, f"{page}/password", {"password": "a-new-password"}).status_code == 302
    assert operator.get("/overview").status_code == 302
    login(app, "op@x.test", "a-new-password")


def test_role_and_language_changes(app: Any, state: Any, people: dict[str, int]) -> None:
    admin = login(app, "admin@x.test")
    operator_id = people["op@x.test"]
    page = f"/admin/users/{operator_id}"
    assert post(admin, page, f"{page}/role", {"role": "agent"}).status_code == 302
    assert "角色已改为客服。" in text(admin.get(page))
    with Session(state.engine) as session:
        assert session.get(User, operator_id).role == "agent" and session.get(Agent, operator_id) is not None
    assert post(admin, page, f"{page}/locale", {"locale": "en"}).status_code == 302
    assert user_row(state, "op@x.test").locale == "en"
    assert "Log out" in text(login(app, "op@x.test").get("/overview"))  # their pages now speak English
    assert post(admin, page, f"{page}/locale", {"locale": "fr"}).status_code == 400
    assert post(admin, page, f"{page}/locale", {"locale": ""}).status_code == 302
    assert user_row(state, "op@x.test").locale is None


def test_agent_settings_raise_capacity_and_routing_reacts(app: Any, state: Any, worker: Any,
                                                          people: dict[str, int]) -> None:
    agent_id = people["agent@x.test"]
    make_team(state, "售后", ("complaint",))
    make_team(state, "数码", ("数码",))
    make_agent(state, "agent@x.test", ("售后",), capacity=0, status="online")
    account = make_account(state)
    ticket_id, _ = open_for(state, fan_message(state, account, "f1", "投诉"))
    worker()
    assert _ticket(state, ticket_id).status == OPEN  # nobody has capacity
    admin = login(app, "admin@x.test")
    page = f"/admin/users/{agent_id}"
    assert 'value="0"' in text(admin.get(page))
    bad = post(admin, page, f"{page}/agent", {"capacity": "500", "status": "online", "teams": ["售后"]})
    assert bad.status_code == 400 and "容量是 0 到 100 之间的工单数。" in text(bad)
    response = post(admin, page, f"{page}/agent", {"capacity": "3", "status": "online", "teams": ["数码"]})
    assert response.status_code == 302
    with Session(state.engine) as session:
        assert session.get(Agent, agent_id).capacity == 3
        teams = session.exec(select(Team.name).join(TeamMember, TeamMember.team_id == Team.id)
                             .where(TeamMember.user_id == agent_id)).all()
        assert teams == ["数码"]
    worker()
    assert _ticket(state, ticket_id).assignee_id == agent_id  # the raised capacity took the waiting ticket
    assert post(admin, page, f"{page}/agent", {"capacity": "3", "status": "away", "teams": []}).status_code == 302
    with Session(state.engine) as session:
        assert session.get(Agent, agent_id).status == "away"
        assert not session.exec(select(TeamMember).where(TeamMember.user_id == agent_id)).all()


def test_a_refused_form_leaves_the_pages_other_forms_as_stored(app: Any, state: Any,
                                                               people: dict[str, int]) -> None:
    make_team(state, "售后")
    make_agent(state, "agent@x.test", ("售后",), capacity=4)
    admin = login(app, "admin@x.test")
    page = f"/admin/users/{people['agent@x.test']}"
    refused = post(admin, page, f"{page}/password", {"password": "short"})
    assert refused.status_code == 400
    assert re.search(r'value="售后" checked', text(refused)) and 'value="4"' in text(refused)


def test_teams_are_created_with_skills_from_intents_and_tags(app: Any, state: Any, people: dict[str, int]) -> None:
    with session_scope(state.engine) as session:
        session.add(Tag(name="数码"))
        session.add(Tag(name="美妆"))
    admin = login(app, "admin@x.test")
    page = text(admin.get("/admin/teams"))
    assert 'value="数码"' in page and 'value="complaint"' in page and "投诉" in page  # tags offered as skills
    response = post(admin, "/admin/teams", "/admin/teams", {
        "name": "数码组", "skills": ["question", "数码"], "other_skills": "相机，手机", "lead": "agent@x.test"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/teams"
    listing = text(admin.get("/admin/teams"))
    assert "已创建团队 数码组。" in listing and "咨询" in listing and "相机" in listing
    with Session(state.engine) as session:
        team = session.exec(select(Team).where(Team.name == "数码组")).one()
        assert team.skills == ["question", "数码", "相机", "手机"] and team.lead_id == people["agent@x.test"]
    duplicate = post(admin, "/admin/teams", "/admin/teams", {"name": "数码组", "lead": ""})
    assert duplicate.status_code == 400 and "已有名为 数码组 的团队。" in text(duplicate)
    too_long = post(admin, "/admin/teams", "/admin/teams", {"name": "x", "other_skills": "长" * 31, "lead": ""})
    assert too_long.status_code == 400 and "技能名最多 30 个字符" in text(too_long)
    empty = post(admin, "/admin/teams", "/admin/teams", {"name": "", "lead": ""})
    assert empty.status_code == 400


def test_a_team_is_edited_and_agents_added_and_removed(app: Any, state: Any, worker: Any,
                                                       people: dict[str, int]) -> None:
    team_id = make_team(state, "售后", ("complaint",))
    agent_id = people["agent@x.test"]
    make_agent(state, "agent@x.test", status="online")
    other = make_agent(state, "other@x.test", capacity=0, status="online")
    admin = login(app, "admin@x.test")
    page = f"/admin/teams/{team_id}"
    form = text(admin.get(page))
    assert re.search(r'value="complaint" checked', form) and "agent@x.test" in form
    response = post(admin, page, page, {"name": "售后服务", "skills": ["complaint", "human"], "other_skills": "",
                                         "lead": "agent@x.test"})
    assert response.status_code == 302 and response.headers["Location"] == page
    with Session(state.engine) as session:
        team = session.get(Team, team_id)
        assert (team.name, team.skills, team.lead_id) == ("售后服务", ["complaint", "human"], agent_id)
    assert post(admin, page, f"{page}/members", {"agent": str(agent_id)}).status_code == 302
    assert post(admin, page, f"{page}/members", {"agent": str(other)}).status_code == 302
    assert "已将客服加入团队。" in text(admin.get(page))
    with Session(state.engine) as session:
        members = set(session.exec(select(TeamMember.user_id).where(TeamMember.team_id == team_id)).all())
    assert members == {agent_id, other}
    account = make_account(state)
    ticket_id, _ = open_for(state, fan_message(state, account, "f1", "投诉"), team_id=team_id)
    worker()
    assert _ticket(state, ticket_id).assignee_id == agent_id
    assert post(admin, page, f"{page}/members/{agent_id}/remove", {}).status_code == 302
    assert post(admin, page, f"{page}/members/{agent_id}/remove", {}).status_code == 302
    assert "该客服不在此团队中。" in text(admin.get(page))
    with Session(state.engine) as session:
        assert set(session.exec(select(TeamMember.user_id).where(TeamMember.team_id == team_id)).all()) == {other}
    missing = admin.get("/admin/teams/999")
    assert missing.status_code == 404 and "没有这个用户或团队。" in text(missing)
    assert post(admin, page, "/admin/users/999/role", {"role": "agent"}).status_code == 404


def test_admin_forms_need_the_csrf_token(app: Any, people: dict[str, int]) -> None:
    admin = login(app, "admin@x.test")
    for action, data in (("/admin/users", {"email": "a@x.test", "role": "agent", "password": "long-enough"}),
                         (f"/admin/users/{people['op@x.test']}/deactivate", {}),
                         ("/admin/teams", {"name": "x"})):
        assert admin.post(action, data=data).status_code == 400, action
    assert user_row_count(app) == 3


def user_row_count(app: Any) -> int:
    with Session(app.extensions["hub"].engine) as session:
        return len(session.exec(select(User)).all())


def _ticket(state: Any, ticket_id: int) -> Ticket:
    with Session(state.engine) as session:
        return session.get(Ticket, ticket_id)
