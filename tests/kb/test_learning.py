"""Learning from agents (issue 23, item 4): a handed-off question an agent answers with a knowledge-base entry becomes
a proposed similar question of it; operators accept proposals in bulk, which appends them to the entry and rebuilds
the index once; a hand-off from a follow-up ("没用") carries the candidates of the fan's question."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlmodel import Session, select
from werkzeug.security import generate_password_hash

from hub.core.db import session_scope
from hub.core.models import User
from hub.kb import (
    KbEntry,
    KbProposal,
    KbSimilarProposal,
    candidates_for,
    handoff_question,
    is_follow_up,
    propose_similar,
    ticket_question,
)
from hub.kb.entries import import_rows
from hub.kb.files import read_entries
from hub.kb.index import kb_service, rebuild_kb_index
from hub.tickets.models import Ticket
from hub.web.tokens import create_token
from tests.support.tickets_setup import fan_message, make_account, make_agent, open_for
from tests.support.wechat_setup import wire_account

ENTRIES = [
    {"id": "return", "question": "怎么退货", "similar": ["退货流程是什么", "买的东西想退", "可以退货吗"],
     "answer": "签收后 7 天内可在“我的订单”申请退货。"},
    {"id": "refund", "question": "退款多久到账", "similar": ["退款什么时候到", "钱什么时候退回来"],
     "answer": "退货签收后 1–3 个工作日原路退款。"},
    {"id": "shipping", "question": "多久发货", "similar": ["什么时候发货", "下单后几天发货"],
     "answer": "现货订单 48 小时内发货。"},
    {"id": "invoice", "question": "怎么开发票", "similar": ["能开发票吗", "电子发票在哪"],
     "answer": "下单时勾选“开具发票”。"},
]
UNKNOWN = "我昨天拍的那件外套到现在都还没动静啊"  # the shipping entry's question, in words the index does not know


def _load_kb(state: Any) -> None:
    with session_scope(state.engine) as session:
        import_rows(session, read_entries("kb.jsonl", "\n".join(json.dumps(e) for e in ENTRIES).encode()))
    rebuild_kb_index()
    assert kb_service(state, wait=True) is not None


@pytest.fixture
def desk(state: Any) -> dict[str, Any]:
    """A knowledge base, an online agent, an operator, their API tokens and an account."""
    _load_kb(state)
    account = make_account(state)
    agent = make_agent(state, "a@x.cn")
    with session_scope(state.engine) as session:
        session.add(User(email="op@x.cn", role="operator", password_hash=generate_password_hash("password123")))
    auth = {who: {"Authorization": f"Bearer {create_token(state.engine, f'{who}@x.cn')}"} for who in ("a", "op")}
    return {"account": account, "agent": agent, "auth": auth}


def _handed_off(state: Any, desk: dict[str, Any], sender: str, *texts: str) -> int:
    """The fan writes `texts`; the last one is handed off (a ticket opened on it, as the pipeline does)."""
    message = None
    for text in texts:
        message = fan_message(state, desk["account"], sender, text)
    assert message is not None
    return open_for(state, message)[0]


def _similar(state: Any) -> list[KbSimilarProposal]:
    with Session(state.engine) as session:
        return list(session.exec(select(KbSimilarProposal).order_by(KbSimilarProposal.id)).all())


def _entry(state: Any, external_id: str) -> KbEntry:
    with Session(state.engine) as session:
        return session.exec(select(KbEntry).where(KbEntry.external_id == external_id)).one()


def test_follow_ups_are_not_questions() -> None:
    for text in ("没用", "没用！", "转人工", "人工客服", "？", "2", "２", "😡", "好的"):
        assert is_follow_up(text), text
    for text in ("怎么退货", "包邮吗", "多久发货？", "我的快递被压坏了"):
        assert not is_follow_up(text), text
    assert is_follow_up("我要找你们的人工客服", intent="human") and not is_follow_up("我要找你们的人工客服")


def test_the_question_of_a_hand_off_from_a_follow_up(state: Any, desk: dict[str, Any]) -> None:
    question = fan_message(state, desk["account"], "f1", "怎么退货")
    unhelpful = fan_message(state, desk["account"], "f1", "没用")
    person = fan_message(state, desk["account"], "f1", "转人工")
    alone = fan_message(state, desk["account"], "f2", "转人工")
    later = fan_message(state, desk["account"], "f2", "我想开电子发票")
    with Session(state.engine) as session:
        assert handoff_question(session, question.id) == (question.id, "怎么退货")
        assert handoff_question(session, unhelpful.id) == (question.id, "怎么退货")
        assert handoff_question(session, person.id) == (question.id, "怎么退货")
        assert handoff_question(session, alone.id) is None  # nothing asked before: no question, no candidates
        assert ticket_question(session, alone.id) == (later.id, "我想开电子发票")  # the first real message after


def test_an_inserted_suggestion_proposes_the_fans_question_once(app: Any, state: Any, desk: dict[str, Any]) -> None:
    ticket = _handed_off(state, desk, "f1", UNKNOWN)
    client, auth = app.test_client(), desk["auth"]["a"]
    answer = client.post(f"/api/v1/tickets/{ticket}/replies", json={"text": ENTRIES[2]["answer"],
                                                                    "kb_entry_id": "shipping"}, headers=auth)
    assert answer.status_code == 202, answer.get_json()
    [proposal] = _similar(state)
    assert (proposal.question, proposal.source, proposal.status) == (UNKNOWN, "inserted", "open")
    assert proposal.entry_id == _entry(state, "shipping").id and proposal.agent_id == desk["agent"]
    assert proposal.ticket_id == ticket and proposal.reply_id == answer.get_json()["id"]
    # Again with the entry (another reply, or marked as the answer): still one proposal.
    again = client.post(f"/api/v1/tickets/{ticket}/replies",
                        json={"text": "补充：节假日顺延", "kb_entry_id": "shipping"}, headers=auth)
    marked = client.post(f"/api/v1/tickets/{ticket}/kb-answer", json={"kb_entry_id": "shipping"}, headers=auth)
    assert again.status_code == 202 and marked.status_code == 201
    assert marked.get_json()["proposal_id"] == proposal.id and len(_similar(state)) == 1
    # Another entry for the same question is another proposal; an unknown entry is refused and sends nothing.
    assert client.post(f"/api/v1/tickets/{ticket}/kb-answer", json={"kb_entry_id": "refund"},
                       headers=auth).status_code == 201
    unknown = client.post(f"/api/v1/tickets/{ticket}/replies", json={"text": "x", "kb_entry_id": "nope"}, headers=auth)
    assert unknown.status_code == 400 and "nope" in unknown.get_json()["error"]
    assert client.post(f"/api/v1/tickets/{ticket}/kb-answer", json={"kb_entry_id": "nope"},
                       headers=auth).status_code == 404
    assert client.post(f"/api/v1/tickets/{ticket}/kb-answer", json={"kb_entry_id": ""}, headers=auth).status_code == 400
    assert client.post("/api/v1/tickets/999999/kb-answer", json={"kb_entry_id": "refund"},
                       headers=auth).status_code == 404
    assert [(p.question, p.source) for p in _similar(state)] == [(UNKNOWN, "inserted"), (UNKNOWN, "marked")]


def test_known_questions_and_follow_ups_are_not_proposed(app: Any, state: Any, desk: dict[str, Any]) -> None:
    auth = desk["auth"]["a"]
    ticket = _handed_off(state, desk, "f1", "什么时候发货？")  # the shipping entry's similar question already
    marked = app.test_client().post(f"/api/v1/tickets/{ticket}/kb-answer", json={"kb_entry_id": "shipping"},
                                    headers=auth)
    assert marked.status_code == 200 and marked.get_json()["status"] == "known"
    # A hand-off from "没用" teaches the question before it, never "没用".
    ticket = _handed_off(state, desk, "f2", UNKNOWN, "没用")
    assert app.test_client().post(f"/api/v1/tickets/{ticket}/replies", json={"text": "已催仓库",
                                  "kb_entry_id": "shipping"}, headers=auth).status_code == 202
    assert [p.question for p in _similar(state)] == [UNKNOWN]
    with session_scope(state.engine) as session:
        entry = session.exec(select(KbEntry).where(KbEntry.external_id == "return")).one()
        assert propose_similar(session, entry, (None, " 可以退货吗！ "), source="marked", agent_id=None) is None
        assert propose_similar(session, entry, (None, "🙂"), source="marked", agent_id=None) is None


def test_bulk_accept_appends_similar_questions_and_rebuilds_once(app: Any, state: Any, desk: dict[str, Any],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import hub.web.api.kb_learning as api

    asked = ["我昨天拍的那件外套到现在都还没动静啊", "拍下的东西啥时候能寄出来嘛"]
    client, agent, operator = app.test_client(), desk["auth"]["a"], desk["auth"]["op"]
    for n, text in enumerate(asked):
        ticket = _handed_off(state, desk, f"f{n}", text)
        assert client.post(f"/api/v1/tickets/{ticket}/replies",
                           json={"text": "48 小时内发货", "kb_entry_id": "shipping"}, headers=agent).status_code == 202
    rebuilds: list[Any] = []
    real = api.request_rebuild
    monkeypatch.setattr(api, "request_rebuild", lambda hub: rebuilds.append(hub) or real(hub))
    listed = client.get("/api/v1/kb/similar-proposals", headers=operator).get_json()
    assert listed["total"] == 2 and {i["question"] for i in listed["items"]} == set(asked)
    assert {i["entry_question"] for i in listed["items"]} == {"多久发货"} and listed["items"][0]["agent"] == "a@x.cn"
    assert client.get("/api/v1/kb/similar-proposals", headers=agent).status_code == 403
    ids = [i["id"] for i in listed["items"]]
    accepted = client.post("/api/v1/kb/similar-proposals/accept", json={"ids": [*ids, 999999]}, headers=operator)
    assert accepted.status_code == 200, accepted.get_json()
    body = accepted.get_json()
    assert sorted(body["accepted"]) == sorted(ids) and body["entries"] == ["shipping"] and body["index"] == "rebuilding"
    assert body["skipped"] == [{"id": 999999, "reason": "no proposal 999999"}]
    assert len(rebuilds) == 1  # one rebuild for the batch, not one per proposal
    assert _entry(state, "shipping").similar == ["什么时候发货", "下单后几天发货", *sorted(asked, key=asked.index)]
    again = client.post("/api/v1/kb/similar-proposals/accept", json={"ids": ids}, headers=operator).get_json()
    assert again["accepted"] == [] and again["index"] == "unchanged" and len(rebuilds) == 1
    assert client.post("/api/v1/kb/similar-proposals/accept", json={"ids": []}, headers=operator).status_code == 400
    # After the rebuild the fans' questions find the entry.
    rebuild_kb_index()
    kb = kb_service(state, wait=True)
    for text in asked:
        assert kb.search(text, k=1)[0].entry_id == "shipping", text
        assert kb.decide(text).action == "answer"


def test_bulk_reject_and_new_entry_proposals_in_bulk(app: Any, state: Any, desk: dict[str, Any]) -> None:
    client, agent, operator = app.test_client(), desk["auth"]["a"], desk["auth"]["op"]
    ticket = _handed_off(state, desk, "f1", UNKNOWN)
    client.post(f"/api/v1/tickets/{ticket}/kb-answer", json={"kb_entry_id": "shipping"}, headers=agent)
    [proposal] = _similar(state)
    rejected = client.post("/api/v1/kb/similar-proposals/reject", json={"ids": [proposal.id]}, headers=operator)
    assert rejected.get_json() == {"rejected": [proposal.id], "skipped": []}
    assert client.post(f"/api/v1/tickets/{ticket}/kb-answer", json={"kb_entry_id": "shipping"},
                       headers=agent).get_json()["proposal_id"] == proposal.id  # not proposed again
    assert _entry(state, "shipping").similar == ["什么时候发货", "下单后几天发货"]
    # New-entry proposals (a question the bot could not answer + the agent's answer): accepted many at a time.
    with session_scope(state.engine) as session:
        asked = (("会员积分怎么用", "积分可抵现。"), ("能寄到香港吗", ""), ("发票抬头能改吗", "可以改。"))
        for question, answer in asked:
            session.add(KbProposal(question=question, answer=answer))
    with Session(state.engine) as session:
        ids = list(session.exec(select(KbProposal.id).order_by(KbProposal.id)).all())
    body = client.post("/api/v1/kb/proposals/accept", json={"ids": ids[:2]}, headers=operator).get_json()
    assert body["accepted"] == [{"id": ids[0], "entry_id": f"p-{ids[0]}"}] and body["index"] == "rebuilding"
    assert [s["id"] for s in body["skipped"]] == [ids[1]] and "answer" in body["skipped"][0]["reason"]
    assert client.post("/api/v1/kb/proposals/reject", json={"ids": [ids[2]]}, headers=operator).get_json() == {
        "rejected": [ids[2]], "skipped": []}
    assert client.post(f"/api/v1/kb/proposals/{ids[1]}/accept", json={"answer": "暂不支持。"},
                       headers=operator).status_code == 201  # the single accept still works
    assert _entry(state, f"p-{ids[0]}").answer == "积分可抵现。"


def test_a_replied_answer_fills_the_new_entry_proposal(app: Any, state: Any, desk: dict[str, Any]) -> None:
    message = fan_message(state, desk["account"], "f1", UNKNOWN)
    with session_scope(state.engine) as session:
        session.add(KbProposal(question=UNKNOWN, message_id=message.id))
    ticket = open_for(state, message)[0]
    app.test_client().post(f"/api/v1/tickets/{ticket}/replies", json={"text": "已为您催促仓库。"},
                           headers=desk["auth"]["a"])
    with Session(state.engine) as session:
        assert session.exec(select(KbProposal)).one().answer == "已为您催促仓库。"


def test_an_unhelpful_hand_off_carries_the_candidates_of_the_question(state: Any, live_hub: Any, sandbox: Any,
                                                                      worker: Any, app: Any) -> None:
    _load_kb(state)
    brand = wire_account(state, live_hub.url, sandbox.url)
    assert brand.say("fan-1", text="怎么退货")["reply_text"] == ENTRIES[0]["answer"]
    assert brand.say("fan-1", text="没用")["reply_text"] is None
    worker()
    with Session(state.engine) as session:
        ticket = session.exec(select(Ticket)).one()
        proposals = session.exec(select(KbProposal)).all()
    expected = candidates_for(kb_service(state), "怎么退货", unhelpful="return")
    assert ticket.reason == "the fan said the answer did not help"
    assert ticket.candidates == expected and ticket.candidates[0] == {**expected[0], "entry_id": "return",
                                                                      "unhelpful": True}
    assert proposals == []  # an answered question is no new-entry proposal
    # The agent's suggestions rank for the question too, not for "没用".
    make_agent(state, "a@x.cn")
    auth = {"Authorization": f"Bearer {create_token(state.engine, 'a@x.cn')}"}
    suggestions = app.test_client().get(f"/api/v1/fans/{ticket.fan_id}/suggestions", headers=auth).get_json()
    assert suggestions[0]["entry_id"] == "return" and {s["for_message"] for s in suggestions} == {"怎么退货"}


def test_a_hand_off_for_a_person_carries_the_candidates_of_the_question(state: Any, desk: dict[str, Any]) -> None:
    from bots.base import Handoff
    from hub.conversation.handoff import open_ticket
    from hub.core.models import Message
    from hub.tickets import Effects

    fan_message(state, desk["account"], "f1", "下单后几天发货呀")
    person = fan_message(state, desk["account"], "f1", "转人工")
    with session_scope(state.engine) as session:
        open_ticket(session, state.config, session.get(Message, person.id), "wechat",
                    Handoff("the fan asked for a person", "intent"), Effects())
    with Session(state.engine) as session:
        ticket = session.exec(select(Ticket)).one()
    assert ticket.candidates == candidates_for(kb_service(state), "下单后几天发货呀")
    assert ticket.candidates[0]["entry_id"] == "shipping"
