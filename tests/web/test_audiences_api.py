"""The audiences API (issue 21, item 2): preview with a count and a sample, a 400 naming the position of a syntax
error, saved audiences (CRUD, counted again on read), the streamed CSV export, roles (agents 403), and pushing an
audience to a WeChat user tag through the WeChat API emulation within WeChat's limits."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from sqlmodel import select
from werkzeug.security import generate_password_hash

from hub.core.db import session_scope
from hub.core.models import Account, Fan, Identity, User
from hub.tags.audience_syntax import parse
from hub.tags.models import FanTag, Tag
from hub.web.tokens import create_token
from tests.support.wechat_setup import wire_account
from tests.tags.audience_data import expected_ids, populate


@pytest.fixture
def tokens(state: Any) -> dict[str, str]:
    with session_scope(state.engine) as session:
        for email, role in (("op@x.test", "operator"), ("agent@x.test", "agent"), ("admin@x.test", "admin")):
            session.add(User(email=email, role=role, password_hash=generate_password_hash("pw-12345678")))
    return {role: create_token(state.engine, f"{role}@x.test") for role in ("op", "agent", "admin")}


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_preview_counts_and_samples_and_names_the_position_of_errors(app: Any, state: Any,
                                                                     tokens: dict[str, str]) -> None:
    facts = populate(state, 60)
    client = app.test_client()
    expression = "(美妆 OR 母婴) AND NOT 数码"
    want = expected_ids(parse(expression), facts)
    answer = client.post("/api/v1/audiences/preview", json={"expression": expression}, headers=_h(tokens["op"]))
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["count"] == len(want) and body["total_fans"] == 60
    assert {f["id"] for f in body["sample"]} <= want and len(body["sample"]) == min(20, len(want))
    assert client.post("/api/v1/audiences/preview", json={"expression": expression},
                       headers=_h(tokens["admin"])).status_code == 200

    bad = client.post("/api/v1/audiences/preview", json={"expression": "(美妆 OR 母婴 AND"}, headers=_h(tokens["op"]))
    assert bad.status_code == 400
    problem = bad.get_json()
    assert problem["position"] == 13 and "position 13" in problem["error"] and "tag name" in problem["expected"]
    unknown = client.post("/api/v1/audiences/preview", json={"expression": "美妆 OR 火星"}, headers=_h(tokens["op"]))
    assert unknown.status_code == 400 and unknown.get_json()["position"] == 6 and unknown.get_json()["found"] == "火星"
    for body_ in ({"expression": 5}, {"expr": "美妆"}, {"expression": "美妆", "sample": 1000}):
        assert client.post("/api/v1/audiences/preview", json=body_, headers=_h(tokens["op"])).status_code == 400
    assert client.post("/api/v1/audiences/preview", json={"expression": expression},
                       headers=_h(tokens["agent"])).status_code == 403
    assert client.get("/api/v1/audiences", headers=_h(tokens["agent"])).status_code == 403


def test_saved_audiences_crud_and_the_streamed_export(app: Any, state: Any, tokens: dict[str, str]) -> None:
    facts = populate(state, 70)
    client, op = app.test_client(), _h(tokens["op"])
    created = client.post("/api/v1/audiences", json={"name": "妈妈们", "expression": "母婴 AND NOT 已购"}, headers=op)
    assert created.status_code == 201, created.get_json()
    audience = created.get_json()
    want = expected_ids(parse("母婴 AND NOT 已购"), facts)
    assert audience["count"] == len(want)
    same_name = {"name": "妈妈们", "expression": "美妆"}
    assert client.post("/api/v1/audiences", json=same_name, headers=op).status_code == 409
    broken = client.post("/api/v1/audiences", json={"name": "x", "expression": "美妆 差"}, headers=op)
    assert broken.status_code == 400 and broken.get_json()["position"] == 4
    assert [a["name"] for a in client.get("/api/v1/audiences", headers=op).get_json()] == ["妈妈们"]

    with session_scope(state.engine) as session:  # a new fan joins: reading the audience counts again
        tag = session.exec(select(Tag).where(Tag.name == "母婴")).one()
        fan = Fan(display_name="新妈妈")
        session.add(fan)
        session.flush()
        session.add(FanTag(fan_id=fan.id, tag_id=tag.id))
    again = client.get(f"/api/v1/audiences/{audience['id']}", headers=op).get_json()
    assert again["count"] == len(want) + 1 and again["sample"][0]["display_name"] in {"新妈妈", *(
        f"fan {i}" for i in range(70))}

    export = client.get(audience["export_url"], headers=op)
    assert export.status_code == 200 and export.is_streamed
    assert export.headers["X-Total-Count"] == str(len(want) + 1)
    rows = list(csv.reader(io.StringIO(export.get_data().decode("utf-8-sig"))))
    assert rows[0][0] == "fan_id" and sorted(int(r[0]) for r in rows[1:]) == sorted({*want, fan.id})

    changed = client.put(f"/api/v1/audiences/{audience['id']}", json={"name": "全部美妆", "expression": "美妆"},
                         headers=op)
    assert changed.status_code == 200 and changed.get_json()["count"] == len(expected_ids(parse("美妆"), facts))
    assert client.get(audience["export_url"], headers=_h(tokens["agent"])).status_code == 403
    assert client.delete(f"/api/v1/audiences/{audience['id']}", headers=op).get_json() == {
        "id": audience["id"], "deleted": True}
    assert client.get(f"/api/v1/audiences/{audience['id']}", headers=op).status_code == 404
    assert client.get(audience["export_url"], headers=op).status_code == 404


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_push_to_a_wechat_tag_within_wechats_limits(app: Any, state: Any, tokens: dict[str, str], live_hub: Any,
                                                    sandbox: Any, worker: Any) -> None:
    brand = wire_account(state, live_hub.url, sandbox.url)
    with session_scope(state.engine) as session:
        account = session.exec(select(Account).where(Account.key == brand.key)).one()
        tag = Tag(name="美妆")
        session.add(tag)
        session.flush()
        for i in range(120):
            fan = Fan(display_name=f"fan {i}")
            session.add(fan)
            session.flush()
            session.add(Identity(fan_id=fan.id, account_id=account.id, external_id=f"o-{i:03d}",
                                 subscribed=i != 8))
            sandbox.state.add_fan(brand.app_id, f"o-{i:03d}")
            if i % 2 == 0:
                session.add(FanTag(fan_id=fan.id, tag_id=tag.id))
    full = [sandbox.state.tags(brand.app_id, "create", f"满{i}")["id"] for i in range(20)]
    for tag_id in full:  # o-000 carries WeChat's maximum of 20 tags already
        sandbox.state.tags(brand.app_id, "tag", tag_id, ["o-000"])
    client, op = app.test_client(), _h(tokens["op"])
    audience = client.post("/api/v1/audiences", json={"name": "beauty", "expression": "美妆"}, headers=op).get_json()
    assert client.post(f"/api/v1/audiences/{audience['id']}/push", json={"tag": "美妆"},
                       headers=op).status_code == 400  # a hub tag: the tag sync owns it
    queued = client.post(f"/api/v1/audiences/{audience['id']}/push", json={"tag": "春季活动"}, headers=op)
    assert queued.status_code == 202, queued.get_json()
    worker()
    status = client.get(queued.get_json()["status_url"], headers=op).get_json()
    assert status["job"]["status"] == "finished" and status["job"]["progress"] == {"done": 59, "total": 59}
    report = status["report"]
    assert report["tagged"] == 58 and [e["openid"] for e in report["not_synced"]] == ["o-000"]
    assert report["accounts"][0]["created"] is True and report["not_on_account"] == 1  # o-008 unsubscribed
    names = {t["id"]: t["name"] for t in sandbox.state.tags(brand.app_id, "list")}
    tagged = {f["openid"] for f in sandbox.state.fans(brand.app_id) if any(names[i] == "春季活动" for i in f["tags"])}
    assert tagged == {f"o-{i:03d}" for i in range(2, 120, 2) if i != 8}

    # The account reaches WeChat's 100 tags (星标组 and the reserved ids do not count): a new tag does not fit.
    for i in range(100 - len([i for i in names if i not in (0, 1, 2)])):
        sandbox.state.tags(brand.app_id, "create", f"其他{i}")
    queued = client.post(f"/api/v1/audiences/{audience['id']}/push", json={"tag": "冬季活动"}, headers=op)
    worker()
    report = client.get(queued.get_json()["status_url"], headers=op).get_json()["report"]
    assert report["tagged"] == 0 and "100 tags" in report["not_synced"][0]["reason"]
    assert client.post(f"/api/v1/audiences/{audience['id']}/push", json={"tag": "x"},
                       headers=_h(tokens["agent"])).status_code == 403
