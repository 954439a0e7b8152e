"""The knowledge base through the hub: files, the index job, the FAQ bot on WeChat, feedback, proposals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from hub.core.db import session_scope
from hub.kb.entries import import_rows
from hub.kb.files import KbFileError, read_entries, write_entries
from hub.kb.models import KbEntry, KbProposal
from hub.tickets.models import Ticket
from tests.support.wechat_setup import messages, wire_account

ENTRIES = [
    {"id": "return", "question": "怎么退货", "similar": ["退货流程是什么", "买的东西想退", "可以退货吗"],
     "answer": "签收后 7 天内可在“我的订单”申请退货。"},
    {"id": "refund", "question": "退款多久到账", "similar": ["退款什么时候到", "钱什么时候退回来"],
     "answer": "退货签收后 1–3 个工作日原路退款。"},
    {"id": "shipping", "question": "多久发货", "similar": ["什么时候发货", "下单后几天发货"],
     "answer": "现货订单 48 小时内发货。"},
    {"id": "invoice", "question": "怎么开发票", "similar": ["能开发票吗", "电子发票在哪"],
     "answer": "下单时勾选“开具发票”。"},
    {"id": "hours", "question": "门店几点营业", "similar": ["实体店营业时间", "几点关门"],
     "answer": "每天 10:00–22:00。"},
]


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".xlsx"])
def test_files_round_trip(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"kb{suffix}"
    write_entries(path, [{**e, "category": "售后", "link_url": None, "enabled": True} for e in ENTRIES])
    rows = read_entries(path)
    assert [(r.id, r.question, r.similar, r.answer) for r in rows] == [
        (e["id"], e["question"], e["similar"], e["answer"]) for e in ENTRIES
    ]


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ('{"id": "a", "question": "q", "answer": "a"}\n{"id": "b", "question": "q2"}\n', 2, "missing 'answer'"),
        ('{"id": "a", "question": "q", "answer": "a"}\n{not json\n', 2, "not valid JSON"),
        ('{"id": "a", "question": "q", "answer": "a"}\n{"id": "a", "question": "x", "answer": "y"}\n', 2,
         "used already on line 1"),
        ('\n\n{"question": "", "answer": "a"}\n', 3, "missing 'question'"),
    ],
)
def test_malformed_files_name_the_line(tmp_path: Path, content: str, line: int, message: str) -> None:
    path = tmp_path / "kb.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(KbFileError) as caught:
        read_entries(path)
    assert caught.value.line == line and message in str(caught.value)


def test_a_failed_import_leaves_nothing_behind(run_cli: Any, state: Any, tmp_path: Path) -> None:
    good = _write_jsonl(tmp_path / "good.jsonl", ENTRIES[:2])
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good.read_text() + '{"id": "x", "question": "q"}\n', encoding="utf-8")
    result = run_cli("kb", "import", str(bad))
    assert result.exit_code != 0 and "line 3" in result.output and "nothing was imported" in result.output
    with Session(state.engine) as session:
        assert session.exec(select(KbEntry)).all() == []
    assert run_cli("kb", "import", str(good)).exit_code == 0
    exported = tmp_path / "out.csv"
    assert run_cli("kb", "export", str(exported)).exit_code == 0
    assert [r.id for r in read_entries(exported)] == ["return", "refund"]


@pytest.fixture
def run_cli(hub_config: dict[str, Any], app: Any) -> Any:
    from click.testing import CliRunner

    from hub.cli import cli

    env = {f"HUB_{k.upper()}": str(v) for k, v in hub_config.items()}
    return lambda *args: CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def kb_brand(state: Any, live_hub: Any, sandbox: Any) -> Any:
    from hub.kb.index import kb_service, rebuild_kb_index

    with session_scope(state.engine) as session:
        import_rows(session, read_entries("kb.jsonl", json.dumps(ENTRIES[0]).encode() + b"\n"
                                          + b"\n".join(json.dumps(e).encode() for e in ENTRIES[1:])))
    rebuild_kb_index()
    assert kb_service(state, wait=True) is not None
    return wire_account(state, live_hub.url, sandbox.url)


def test_faq_answers_paraphrases_on_wechat_and_counts_hits(kb_brand: Any, state: Any, worker: Any) -> None:
    assert kb_brand.say("fan-1", text="退货流程是什么")["reply_text"] == ENTRIES[0]["answer"]
    assert kb_brand.say("fan-1", text="可以退货吗？")["reply_text"] == ENTRIES[0]["answer"]
    worker()
    with Session(state.engine) as session:
        assert session.exec(select(KbEntry).where(KbEntry.external_id == "return")).one().hits == 2


def test_unknown_question_opens_a_ticket_and_a_proposal(kb_brand: Any, state: Any, worker: Any) -> None:
    question = "快递到了但是外包装破了"  # near no entry: the bot offers its best guesses, the fan declines them
    offered = kb_brand.say("fan-2", text=question)["reply_text"]
    assert offered.startswith("您是想问")
    worker()
    kb_brand.say("fan-2", text="没用")
    worker()
    with Session(state.engine) as session:
        ticket = session.exec(select(Ticket)).one()
        proposal = session.exec(select(KbProposal)).one()
    assert ticket.status == "open" and ticket.reason == "the fan declined the offered questions"
    assert len(ticket.candidates) >= 1 and {"entry_id", "question", "confidence"} <= ticket.candidates[0].keys()
    assert proposal.question == question and proposal.answer == ""
    assert [m["text"]["content"] for m in kb_brand.outbox("fan-2")] == ["抱歉没能帮到您，已为您转接人工客服，请稍候。"]


def test_unhelpful_feedback_counts_against_the_entry(kb_brand: Any, state: Any, worker: Any) -> None:
    assert kb_brand.say("fan-3", text="怎么退货")["reply_text"] == ENTRIES[0]["answer"]
    assert kb_brand.say("fan-3", text="没用")["reply_text"] is None
    worker()
    with Session(state.engine) as session:
        entry = session.exec(select(KbEntry).where(KbEntry.external_id == "return")).one()
        assert (entry.hits, entry.unhelpful) == (1, 1)
        assert session.exec(select(Ticket)).one().reason == "the fan said the answer did not help"


def test_index_rebuild_is_picked_up_without_blocking(kb_brand: Any, state: Any, tmp_path: Path) -> None:
    from hub.kb.index import kb_service, rebuild_kb_index

    old = kb_service(state)
    with session_scope(state.engine) as session:
        import_rows(session, read_entries(_write_jsonl(tmp_path / "more.jsonl", [
            {"id": "warranty", "question": "保修多久", "similar": ["保修期是多长时间", "质保几年"],
             "answer": "整机保修 1 年。"}])))
    version = rebuild_kb_index()
    assert old is not None and old.version != version
    new = kb_service(state, wait=True)
    assert new.version == version and new.entry("warranty") is not None
    assert old.entry("warranty") is None  # the old index stayed whole while the new one loaded
    assert kb_brand.say("fan-4", text="质保几年")["reply_text"] == "整机保修 1 年。"


def test_agent_suggestions_reply_and_proposal_acceptance(kb_brand: Any, state: Any, app: Any, worker: Any) -> None:
    import re

    from werkzeug.security import generate_password_hash

    from hub.core.models import User

    with session_scope(state.engine) as session:
        session.add(User(email="agent@x.test", role="agent", password_hash=generate_password_hash("pw-agent-1")))
        session.add(User(email="op@x.test", role="operator", password_hash=generate_password_hash("pw-oper-1")))
    kb_brand.say("fan-5", text="快递到了但是外包装破了")  # near no entry: a list of guesses, declined
    worker()
    kb_brand.say("fan-5", text="没用")
    worker()
    fan_id = messages(state, "in")[0].fan_id

    def login(email: str, password: str) -> tuple[Any, str]:
        client = app.test_client()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                          client.get("/login").get_data(as_text=True)).group(1)
        client.post("/login", data={"email": email, "password": password, "csrf_token": token})
        return client, token

    agent, token = login("agent@x.test", "pw-agent-1")
    ranked = agent.get(f"/api/v1/fans/{fan_id}/suggestions").get_json()
    assert ranked[0]["entry_id"] == "shipping"
    assert agent.post(f"/api/v1/fans/{fan_id}/messages", json={"text": "请检查垃圾邮件箱"}).status_code == 400
    reply = agent.post(f"/api/v1/fans/{fan_id}/messages", json={"text": "请检查垃圾邮件箱，或在订单页下载。"},
                       headers={"X-CSRFToken": token})
    assert reply.status_code == 202
    worker()
    assert kb_brand.outbox("fan-5")[-1]["text"]["content"] == "请检查垃圾邮件箱，或在订单页下载。"
    assert agent.get("/api/v1/kb/proposals").status_code == 403
    operator, op_token = login("op@x.test", "pw-oper-1")
    proposals = operator.get("/api/v1/kb/proposals").get_json()
    assert proposals[0]["answer"] == "请检查垃圾邮件箱，或在订单页下载。"
    accepted = operator.post(f"/api/v1/kb/proposals/{proposals[0]['id']}/accept", json={},
                             headers={"X-CSRFToken": op_token})
    assert accepted.status_code == 201
    worker()  # the rebuild job
    from hub.kb.index import kb_service

    assert kb_service(state, wait=True).entry(accepted.get_json()["entry_id"]) is not None
