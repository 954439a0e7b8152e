"""Fans through the API (/api/v1/fans...) and the operator's fan pages: roles (operators write, agents read),
CSRF, 404s for what does not exist, 409s that say why, a merged fan's id resolving to the kept fan, CRM ids,
merge and split with their confirm steps, fan text escaped."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlmodel import Session, select

from hub.core.db import session_scope
from hub.core.models import Account, Fan, FanEvent, Message
from hub.web.tokens import create_token
from tests.support.tickets_setup import fan_message, make_account, open_for
from tests.tags.helpers import add_user, login


@pytest.fixture
def world(state: Any) -> dict[str, Any]:
    wechat = make_account(state, "brand")
    with session_scope(state.engine) as session:
        forum = Account(key="forum", channel="community", name="论坛")
        session.add(forum)
        session.flush()
        forum_id = forum.id
    a = fan_message(state, wechat, "o-wechat", "订单还没到")
    b = fan_message(state, forum_id, "forum:7", "<b>论坛</b>里也问一下")
    open_for(state, a, run=False)
    open_for(state, b, run=False)
    with session_scope(state.engine) as session:  # the forum user's name as the forum gave it (fan text: escaped)
        fan = session.get(Fan, b.fan_id)
        fan.display_name = "<script>alert(1)</script>"
    for email, role in (("op@x.cn", "operator"), ("agent@x.cn", "agent"), ("admin@x.cn", "admin")):
        add_user(state, email, role)
    auth = {who: {"Authorization": f"Bearer {create_token(state.engine, f'{who}@x.cn')}"}
            for who in ("op", "agent", "admin")}
    return {"a": a.fan_id, "b": b.fan_id, "b_identity": b.identity_id, "auth": auth}


def test_reading_a_fan_and_finding_it_by_crm_id(app: Any, world: dict[str, Any]) -> None:
    client, auth = app.test_client(), world["auth"]
    fan = client.get(f"/api/v1/fans/{world['a']}", headers=auth["agent"]).get_json()
    assert [(i["channel"], i["account"], i["external_id"]) for i in fan["identities"]] == [
        ("wechat", "brand", "o-wechat")]
    assert (fan["messages"], fan["tickets"], fan["tickets_active"]) == (1, 1, 1)
    assert client.get("/api/v1/fans/99999", headers=auth["agent"]).status_code == 404
    assert client.get(f"/api/v1/fans/{world['a']}").status_code == 401

    put = client.put(f"/api/v1/fans/{world['a']}/crm_id", json={"crm_id": "CRM-1"}, headers=auth["op"])
    assert put.status_code == 200 and put.get_json()["crm_id"] == "CRM-1"
    assert client.put(f"/api/v1/fans/{world['a']}/crm_id", json={"crm_id": "X"},
                      headers=auth["agent"]).status_code == 403
    taken = client.put(f"/api/v1/fans/{world['b']}/crm_id", json={"crm_id": "CRM-1"}, headers=auth["op"])
    assert taken.status_code == 409 and f"fan {world['a']}" in taken.get_json()["error"]
    bad = client.put(f"/api/v1/fans/{world['b']}/crm_id", json={"crm_id": "has space"}, headers=auth["op"])
    assert bad.status_code == 400
    assert client.put(f"/api/v1/fans/{world['b']}/crm_id", json={"crm": 1}, headers=auth["op"]).status_code == 400
    assert client.put("/api/v1/fans/99999/crm_id", json={"crm_id": "Z"}, headers=auth["op"]).status_code == 404

    found = client.get("/api/v1/fans?crm_id=CRM-1", headers=auth["agent"]).get_json()
    assert [f["id"] for f in found] == [world["a"]]
    assert client.get("/api/v1/fans?crm_id=nobody", headers=auth["agent"]).get_json() == []
    assert [f["id"] for f in client.get("/api/v1/fans?q=forum:", headers=auth["agent"]).get_json()] == [world["b"]]
    cleared = client.put(f"/api/v1/fans/{world['a']}/crm_id", json={"crm_id": None}, headers=auth["op"])
    assert cleared.get_json()["crm_id"] is None


def test_merge_and_split_through_the_api(app: Any, state: Any, world: dict[str, Any]) -> None:
    client, auth, a, b = app.test_client(), world["auth"], world["a"], world["b"]
    assert client.post(f"/api/v1/fans/{a}/merge", json={"other": b}, headers=auth["agent"]).status_code == 403
    assert client.post(f"/api/v1/fans/{a}/merge", json={"other": 99999}, headers=auth["op"]).status_code == 404
    assert client.post(f"/api/v1/fans/{a}/merge", json={"other": "2"}, headers=auth["op"]).status_code == 400
    names = client.post(f"/api/v1/fans/{a}/merge", json={"other": b}, headers=auth["op"])
    assert names.status_code == 409 and "display_name" in names.get_json()["error"]
    merged = client.post(f"/api/v1/fans/{a}/merge", json={"other": b, "display_name": "fan o-wechat"},
                         headers=auth["op"])
    assert merged.status_code == 200, merged.get_json()
    body = merged.get_json()
    assert body["moved"] == {"identities": 1, "messages": 1, "tickets": 1, "tickets_merged": 1}
    assert {i["external_id"] for i in body["fan"]["identities"]} == {"o-wechat", "forum:7"}
    assert body["fan"]["messages"] == 2 and body["fan"]["tickets_active"] == 1  # one person, one conversation

    resolved = client.get(f"/api/v1/fans/{b}", headers=auth["agent"]).get_json()
    assert resolved["id"] == a and resolved["resolved_from"] == b  # the merged fan's id leads to the kept fan
    again = client.post(f"/api/v1/fans/{b}/merge", json={"other": a}, headers=auth["op"])
    assert again.status_code == 409 and f"merged into fan {a}" in again.get_json()["error"]
    events = client.get(f"/api/v1/fans/{a}/identity-events", headers=auth["agent"]).get_json()
    assert [e["kind"] for e in events] == ["merge"] and events[0]["actor_id"] is not None

    assert client.post(f"/api/v1/fans/{a}/identities/99999/split", json={}, headers=auth["op"]).status_code == 404
    assert client.post(f"/api/v1/fans/{a}/identities/{world['b_identity']}/split", json={},
                       headers=auth["agent"]).status_code == 403
    split = client.post(f"/api/v1/fans/{a}/identities/{world['b_identity']}/split", json={"reason": "two people"},
                        headers=auth["admin"])
    assert split.status_code == 200, split.get_json()
    new = split.get_json()["fan"]
    assert [i["external_id"] for i in new["identities"]] == ["forum:7"] and new["messages"] == 1
    assert split.get_json()["from_fan"]["messages"] == 1
    only = client.post(f"/api/v1/fans/{new['id']}/identities/{world['b_identity']}/split", json={},
                       headers=auth["op"])
    assert only.status_code == 409 and "only identity" in only.get_json()["error"]
    with Session(state.engine) as session:
        assert session.exec(select(Message.fan_id).where(Message.identity_id == world["b_identity"])).all() == [
            new["id"]]


def test_api_writes_with_a_session_need_the_csrf_header(app: Any, world: dict[str, Any]) -> None:
    client, headers = login(app, "op@x.cn")
    url = f"/api/v1/fans/{world['a']}/crm_id"
    assert client.put(url, json={"crm_id": "CRM-9"}).status_code == 400
    assert client.put(url, json={"crm_id": "CRM-9"}, headers=headers).status_code == 200


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def test_the_operator_fan_pages(app: Any, state: Any, world: dict[str, Any]) -> None:
    a, b = world["a"], world["b"]
    agent, _ = login(app, "agent@x.cn")
    assert agent.get("/operator/fans").status_code == 403
    operator, _ = login(app, "op@x.cn")
    listing = operator.get("/operator/fans?q=forum").get_data(as_text=True)
    assert f'data-fan="{b}"' in listing and f'data-fan="{a}"' not in listing
    assert "<script>alert(1)</script>" not in listing and "&lt;script&gt;" in listing
    page = operator.get(f"/operator/fans/{a}")
    assert page.status_code == 200 and "o-wechat" in page.get_data(as_text=True)
    assert operator.get("/operator/fans/99999").status_code == 404

    token = _csrf(page.get_data(as_text=True))
    assert operator.post(f"/operator/fans/{a}/crm", data={"crm_id": "CRM-7"}).status_code == 400  # no CSRF token
    saved = operator.post(f"/operator/fans/{a}/crm", data={"crm_id": "CRM-7", "csrf_token": token})
    assert saved.status_code == 302
    taken = operator.post(f"/operator/fans/{b}/crm", data={"crm_id": "CRM-7", "csrf_token": token})
    assert taken.status_code == 409 and f"fan {a}" in taken.get_data(as_text=True)

    confirm = operator.get(f"/operator/fans/{a}/merge?other={b}")
    text = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "forum:7" in text and "&lt;script&gt;" in text  # what moves, escaped
    assert operator.get(f"/operator/fans/{a}/merge?other=99999").status_code == 404
    assert operator.get(f"/operator/fans/{a}/merge?other=x").status_code == 400
    done = operator.post(f"/operator/fans/{a}/merge", data={
        "other": str(b), "display_name": "fan o-wechat", "reason": "same person", "csrf_token": _csrf(text)})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/operator/fans/{a}")
    assert operator.get(f"/operator/fans/{b}").status_code == 302  # the merged fan's page leads to the kept one
    kept = operator.get(f"/operator/fans/{a}").get_data(as_text=True)
    assert "forum:7" in kept and "same person" in kept

    split_page = operator.get(f"/operator/fans/{a}/identities/{world['b_identity']}/split")
    assert split_page.status_code == 200
    split = operator.post(f"/operator/fans/{a}/identities/{world['b_identity']}/split",
                          data={"csrf_token": _csrf(split_page.get_data(as_text=True))})
    assert split.status_code == 302
    with Session(state.engine) as session:
        kinds = session.exec(select(FanEvent.kind).order_by(FanEvent.id)).all()
        new_fan = session.exec(select(Message.fan_id).where(Message.identity_id == world["b_identity"])).one()
    assert kinds == ["crm_id", "merge", "split"] and new_fan not in (a, b)
    assert operator.get(f"/operator/fans/{a}/identities/{world['b_identity']}/split").status_code == 404


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_operator_merges_and_splits_in_the_browser(browser: Any, state: Any, live_hub: Any,
                                                     world: dict[str, Any]) -> None:
    a, b = world["a"], world["b"]
    page = browser.new_page()
    try:
        page.goto(f"{live_hub.url}/login")
        page.fill("#email", "op@x.cn")
        page.fill("#password", "pw-long-enough")
        page.click("button[type=submit]")
        page.goto(f"{live_hub.url}/operator/fans")
        page.fill("#q", "forum")
        page.click("form[role=search] button")
        page.click(f"tr[data-fan='{b}'] td a >> nth=0")
        assert "<script>alert(1)</script>" in page.inner_text("h1")  # the fan's name, shown as text
        page.goto(f"{live_hub.url}/operator/fans/{a}")
        page.fill("#merge-other", str(b))
        page.click("#merge button")
        page.wait_for_selector("table.merge")
        assert "forum:7" in page.inner_text("table.merge")  # what moves, before anything does
        page.check("input[name=display_name][value='fan o-wechat']")
        page.click("form.stacked button.primary")
        page.wait_for_selector("p.flash.ok")
        assert page.url.endswith(f"/operator/fans/{a}") and page.locator("tr[data-identity]").count() == 2
        page.click(f"tr[data-identity='{world['b_identity']}'] a")
        page.click("form.stacked button.primary")
        page.wait_for_selector("p.flash.ok")
        assert page.locator("tr[data-identity]").count() == 1 and "forum:7" in page.inner_text("table.identities")
    finally:
        page.close()
    with Session(state.engine) as session:
        assert session.exec(select(FanEvent.kind).order_by(FanEvent.id)).all() == ["merge", "split"]
