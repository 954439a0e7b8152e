"""The operator's knowledge-base proposals page (/operator/kb/proposals) and the agent console's part in learning
from agents: who may open the page (operators and admins; agents 403), CSRF on its form, fan text rendered as text,
accepting and rejecting in bulk (one index rebuild per batch), and the reply box sending the entry it inserted."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlmodel import Session, select
from werkzeug.security import generate_password_hash

from hub.core.db import session_scope
from hub.core.models import User
from hub.kb import KbEntry, KbProposal, KbSimilarProposal, propose_similar
from hub.kb.entries import import_rows
from hub.kb.files import read_entries
from tests.support.tickets_setup import fan_message, make_account, make_agent, open_for

PASSWORD = "correct-horse"
EVIL = "<script>alert('x')</script>包裹<b>没到</b>"
ENTRIES = [
    {"id": "shipping", "question": "多久发货", "similar": ["什么时候发货"], "answer": "现货订单 48 小时内发货。"},
    {"id": "refund", "question": "退款多久到账", "similar": [], "answer": "1–3 个工作日原路退款。"},
]


@pytest.fixture
def world(state: Any) -> dict[str, Any]:
    with session_scope(state.engine) as session:
        import_rows(session, read_entries("kb.jsonl", "\n".join(json.dumps(e) for e in ENTRIES).encode()))
        for email, role in (("op@x.test", "operator"), ("admin@x.test", "admin")):
            session.add(User(email=email, role=role, password_hash=generate_password_hash(PASSWORD)))
    agent = make_agent(state, "agent@x.test")
    with session_scope(state.engine) as session:
        user = session.get(User, agent)
        user.password_hash, user.display_name = generate_password_hash(PASSWORD), "小李"
    account = make_account(state)
    ids = []
    for n, (text, entry_id) in enumerate(((EVIL, "shipping"), ("钱啥时候能退回来呀", "refund"),
                                          ("东西几天能寄出", "shipping"))):
        message = fan_message(state, account, f"f{n}", text)
        with session_scope(state.engine) as session:
            entry = session.exec(select(KbEntry).where(KbEntry.external_id == entry_id)).one()
            ids.append(propose_similar(session, entry, (message.id, text), source="inserted", agent_id=agent).id)
    return {"ids": ids, "account": account, "agent": agent}


def _login(app: Any, email: str) -> Any:
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token}).status_code == 302
    return client


def _csrf(page: str) -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)


def _similar(state: Any, external_id: str) -> list[str]:
    with Session(state.engine) as session:
        return session.exec(select(KbEntry).where(KbEntry.external_id == external_id)).one().similar


def _statuses(state: Any) -> dict[int, str]:
    with Session(state.engine) as session:
        return dict(session.exec(select(KbSimilarProposal.id, KbSimilarProposal.status)).all())


def test_the_page_lists_open_proposals_with_fan_text_escaped(app: Any, world: dict[str, Any]) -> None:
    page = _login(app, "op@x.test").get("/operator/kb/proposals")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "知识库建议" in html and "粉丝的问题" in html and "全选" in html and "采纳所选" in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;包裹&lt;b&gt;没到&lt;/b&gt;" in html
    assert "<script>alert" not in html and "<b>没到</b>" not in html
    for proposal_id in world["ids"]:
        assert f'name="ids" value="{proposal_id}"' in html
    assert "多久发货" in html and "退款多久到账" in html and "小李" in html
    assert 'data-select-all' in html and "kb_proposals.js" in html
    assert _login(app, "admin@x.test").get("/operator/kb/proposals").status_code == 200


def test_agents_get_403_and_strangers_the_login(app: Any, world: dict[str, Any]) -> None:
    agent = _login(app, "agent@x.test")
    assert agent.get("/operator/kb/proposals").status_code == 403
    token = _csrf(agent.get("/queue").get_data(as_text=True))
    refused = agent.post("/operator/kb/proposals", data={"csrf_token": token, "kind": "similar", "action": "accept",
                                                         "ids": world["ids"]})
    assert refused.status_code == 403
    stranger = app.test_client()
    assert stranger.get("/operator/kb/proposals").status_code == 302
    assert "/login" in stranger.get("/operator/kb/proposals").headers["Location"]
    assert set(_statuses(app.extensions["hub"]).values()) == {"open"}


def test_accepting_in_bulk_needs_the_csrf_token_and_rebuilds_once(app: Any, state: Any, world: dict[str, Any],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import hub.web.operator.kb_proposals as module

    rebuilds: list[Any] = []
    real = module.request_rebuild
    monkeypatch.setattr(module, "request_rebuild", lambda hub: rebuilds.append(hub) or real(hub))
    operator = _login(app, "op@x.test")
    form = {"kind": "similar", "action": "accept", "ids": world["ids"]}
    assert operator.post("/operator/kb/proposals", data=form).status_code == 400  # no CSRF token: nothing done
    assert set(_statuses(state).values()) == {"open"} and rebuilds == []
    token = _csrf(operator.get("/operator/kb/proposals").get_data(as_text=True))
    done = operator.post("/operator/kb/proposals", data={**form, "csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"].endswith("/operator/kb/proposals")
    assert "已采纳 3 条，知识库正在重建索引。" in operator.get(done.headers["Location"]).get_data(as_text=True)
    assert len(rebuilds) == 1
    assert _similar(state, "shipping") == ["什么时候发货", EVIL, "东西几天能寄出"]
    assert _similar(state, "refund") == ["钱啥时候能退回来呀"]
    assert set(_statuses(state).values()) == {"accepted"}
    accepted = operator.get("/operator/kb/proposals?status=accepted").get_data(as_text=True)
    assert "钱啥时候能退回来呀" in accepted and 'name="ids"' not in accepted  # decided: nothing to tick


def test_rejecting_and_refusals(app: Any, state: Any, world: dict[str, Any]) -> None:
    operator = _login(app, "op@x.test")
    token = _csrf(operator.get("/operator/kb/proposals").get_data(as_text=True))
    for bad in ({"kind": "similar", "action": "accept"}, {"kind": "similar", "action": "delete", "ids": world["ids"]},
                {"kind": "other", "action": "accept", "ids": world["ids"]},
                {"kind": "similar", "action": "accept", "ids": ["1; drop table"]}):
        answer = operator.post("/operator/kb/proposals", data={**bad, "csrf_token": token})
        assert answer.status_code == 400 and 'role="alert"' in answer.get_data(as_text=True), bad
    assert set(_statuses(state).values()) == {"open"}
    first = world["ids"][0]
    done = operator.post("/operator/kb/proposals", data={"kind": "similar", "action": "reject", "ids": [first],
                                                        "csrf_token": token}, follow_redirects=True)
    assert done.status_code == 200 and "已拒绝 1 条。" in done.get_data(as_text=True)
    assert _statuses(state)[first] == "rejected" and _similar(state, "shipping") == ["什么时候发货"]
    again = operator.post("/operator/kb/proposals", data={"kind": "similar", "action": "accept", "ids": [first],
                                                         "csrf_token": token}, follow_redirects=True)
    assert f"建议 {first} 未处理" in again.get_data(as_text=True) and _statuses(state)[first] == "rejected"


def test_new_entry_proposals_on_the_page(app: Any, state: Any, world: dict[str, Any]) -> None:
    with session_scope(state.engine) as session:
        session.add(KbProposal(question="<i>会员</i>积分怎么用", answer="积分可抵现。"))
        session.add(KbProposal(question="能寄到香港吗", answer=""))
    with Session(state.engine) as session:
        ids = list(session.exec(select(KbProposal.id).order_by(KbProposal.id)).all())
    operator = _login(app, "op@x.test")
    html = operator.get("/operator/kb/proposals").get_data(as_text=True)
    assert "&lt;i&gt;会员&lt;/i&gt;积分怎么用" in html and "尚无回答" in html
    done = operator.post("/operator/kb/proposals", data={"kind": "entries", "action": "accept", "ids": ids,
                                                        "csrf_token": _csrf(html)}, follow_redirects=True)
    text = done.get_data(as_text=True)
    assert "已采纳 1 条，知识库正在重建索引。" in text and f"建议 {ids[1]} 未处理" in text
    with Session(state.engine) as session:
        assert session.exec(select(KbEntry.question).where(KbEntry.external_id == f"p-{ids[0]}")).one() == (
            "<i>会员</i>积分怎么用")


def test_the_reply_box_sends_the_inserted_entry(app: Any, state: Any, world: dict[str, Any]) -> None:
    message = fan_message(state, world["account"], "fan-x", "我拍的外套一直没发出来")
    ticket, _ = open_for(state, message)
    agent = _login(app, "agent@x.test")
    page = agent.get(f"/tickets/{ticket}")
    html = page.get_data(as_text=True)
    strings = json.loads(re.search(r'<script[^>]*id="agent-strings"[^>]*>(.*?)</script>', html, re.S).group(1))
    assert page.status_code == 200 and strings["mark_answer"] == "标记为答案"  # agent.js's words, translated
    script = agent.get("/static/agent.js").get_data(as_text=True)
    assert "kb_entry_id: kbEntry" in script and '"/kb-answer"' in script
    headers = {"X-CSRFToken": _csrf(html), "Idempotency-Key": "draft-1"}
    body = {"text": ENTRIES[0]["answer"], "kb_entry_id": "shipping"}
    assert agent.post(f"/api/v1/tickets/{ticket}/replies", json=body).status_code == 400  # the session needs CSRF
    assert agent.post(f"/api/v1/tickets/{ticket}/replies", json=body, headers=headers).status_code == 202
    with Session(state.engine) as session:
        proposal = session.exec(select(KbSimilarProposal).where(KbSimilarProposal.ticket_id == ticket)).one()
    assert (proposal.question, proposal.message_id, proposal.agent_id) == (
        "我拍的外套一直没发出来", message.id, world["agent"])
    marked = agent.post(f"/api/v1/tickets/{ticket}/kb-answer", json={"kb_entry_id": "refund"},
                        headers={"X-CSRFToken": _csrf(html)})
    assert marked.status_code == 201 and marked.get_json()["status"] == "proposed"
