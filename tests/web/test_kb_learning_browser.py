"""Learning from agents in a real browser (Playwright driving Debian's chromium, the in-process `live_hub`): the
agent inserts a knowledge-base suggestion and sends it — the reply carries the entry, so the fan's question becomes a
proposal — and marks another suggestion as the answer; the operator ticks "select all" on the proposals page and
accepts them, which adds the questions to the entries."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlmodel import Session, select
from werkzeug.security import generate_password_hash

from hub.core.db import session_scope
from hub.core.models import User
from hub.kb import KbEntry, KbSimilarProposal
from hub.kb.entries import import_rows
from hub.kb.files import read_entries
from hub.kb.index import kb_service, rebuild_kb_index
from tests.support.tickets_setup import fan_message, make_account, make_agent, open_for

PASSWORD = "password123"  # tests.support.tickets_setup.make_agent's
QUESTION = "我拍的外套几天能发货呀"
KB = [
    {"id": "shipping", "question": "多久发货", "similar": ["什么时候发货"], "answer": "现货订单 48 小时内发货。"},
    {"id": "presale", "question": "预售商品什么时候发货", "similar": [], "answer": "预售以商品页写明的时间为准。"},
    {"id": "invoice", "question": "怎么开发票", "similar": [], "answer": "下单时勾选“开具发票”。"},
]

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # about the browser, not the database


@pytest.fixture(autouse=True)
def patient_expect() -> Any:
    from playwright.sync_api import expect

    expect.set_options(timeout=10_000)  # 2 shared cores
    yield
    expect.set_options(timeout=5_000)


def _sign_in(browser: Any, base_url: str, email: str, errors: list[str]) -> Any:
    page = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN").new_page()
    page.on("pageerror", lambda exc: errors.append(f"{email}: {exc}"))
    page.goto(f"{base_url}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def _proposals(state: Any) -> list[tuple[str, str, str, str]]:
    with Session(state.engine) as session:
        rows = session.exec(select(KbSimilarProposal, KbEntry.external_id)
                            .join(KbEntry, KbEntry.id == KbSimilarProposal.entry_id)
                            .order_by(KbSimilarProposal.id)).all()
    return [(p.question, entry, p.source, p.status) for p, entry in rows]


def test_an_inserted_suggestion_and_a_marked_one_become_proposals_the_operator_accepts(
        browser: Any, live_hub: Any, state: Any) -> None:
    from playwright.sync_api import expect

    with session_scope(state.engine) as session:
        import_rows(session, read_entries("kb.jsonl", "\n".join(json.dumps(e) for e in KB).encode()))
        session.add(User(email="op@x.test", role="operator", password_hash=generate_password_hash(PASSWORD)))
    rebuild_kb_index()
    assert kb_service(state, wait=True) is not None
    make_agent(state, "agent@x.test")
    ticket, _ = open_for(state, fan_message(state, make_account(state), "fan-1", QUESTION))
    errors: list[str] = []

    agent = _sign_in(browser, live_hub.url, "agent@x.test", errors)
    agent.goto(f"{live_hub.url}/tickets/{ticket}")
    agent.click("#suggestions-box summary")
    insert = agent.locator('#suggestions button[data-entry="shipping"]')
    expect(insert).to_be_visible()
    insert.click()
    expect(agent.locator("#reply-text")).to_have_value("现货订单 48 小时内发货。")
    agent.fill("#reply-text", "现货订单 48 小时内发货，今天就给您催一下。")  # edited after inserting: still that entry
    agent.click('#replybox [data-send=""]')
    expect(agent.locator("#reply-error")).to_have_text("已发送。")
    assert _proposals(state) == [(QUESTION, "shipping", "inserted", "open")]
    agent.click("#suggestions-box summary")
    mark = agent.locator('#suggestions button[data-mark-entry="presale"]')
    expect(mark).to_have_text("标记为答案")
    mark.click()
    expect(mark).to_have_text("已标记为答案")
    assert _proposals(state)[1:] == [(QUESTION, "presale", "marked", "open")]

    operator = _sign_in(browser, live_hub.url, "op@x.test", errors)
    operator.goto(f"{live_hub.url}/operator/kb/proposals")
    boxes = operator.locator('#similar-proposals input[name="ids"]')
    expect(boxes).to_have_count(2)
    operator.check("#similar-proposals input[data-select-all]")
    for n in range(2):
        expect(boxes.nth(n)).to_be_checked()
    operator.click('#similar-proposals button[value="accept"]')
    expect(operator.locator("p.flash.ok")).to_have_text("已采纳 2 条，知识库正在重建索引。")
    assert [status for *_, status in _proposals(state)] == ["accepted", "accepted"]
    with Session(state.engine) as session:
        similar = dict(session.exec(select(KbEntry.external_id, KbEntry.similar)).all())
    assert similar["shipping"] == ["什么时候发货", QUESTION] and similar["presale"] == [QUESTION]
    assert errors == []
