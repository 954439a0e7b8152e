"""The "您是想问…" list end to end (issue 23, item 3): through the WeChat webhook (the emulated WeChat signs and
encrypts) and the worker, a question of middling confidence gets the numbered list of the top entries, and the
fan's "2" — or a full-width "２", or "②" — gets the answer of the second entry.

Which tier a question falls in is the retriever's business and changes with its calibration (hub kb eval). So that
this test checks the list and the choice rather than a threshold, it replaces only the decision of the knowledge-base
service, and only for the one question: the list is the real search's top 3 for it. Everything else — the index,
the bots, the webhook, the worker, the replies, the hit counts — is real."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlmodel import Session, select

from hub.core.db import session_scope
from hub.core.models import OUT, Message
from hub.kb.entries import import_rows
from hub.kb.files import read_entries
from hub.kb.index import KnowledgeBaseService, kb_service, rebuild_kb_index
from hub.kb.models import KbEntry
from knowledge.retriever import Decision
from tests.support.wechat_setup import wire_account

ENTRIES = [
    {"id": "return-fee", "question": "退货运费谁承担", "similar": ["退货要自己出运费吗"],
     "answer": "质量问题运费由我们承担。"},
    {"id": "return-address", "question": "退货寄到哪个地址", "similar": ["退货地址在哪"],
     "answer": "请寄到上海市仓库。"},
    {"id": "return-time", "question": "退货多久能处理完", "similar": ["退货处理要几天"],
     "answer": "收到退货后 3 天内处理。"},
    {"id": "invoice", "question": "怎么开发票", "similar": ["能开发票吗"], "answer": "下单时勾选“开具发票”。"},
]
MIDDLING = "我想退货怎么弄"


@pytest.fixture
def brand(state: Any, live_hub: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    with session_scope(state.engine) as session:
        import_rows(session, read_entries("kb.jsonl", "\n".join(json.dumps(e) for e in ENTRIES).encode()))
    rebuild_kb_index()
    assert kb_service(state, wait=True) is not None
    real = KnowledgeBaseService.decide

    def middling(self: KnowledgeBaseService, text: str) -> Any:
        if text.strip() != MIDDLING:
            return real(self, text)
        return Decision("suggest", tuple(self.search(text, k=3)))

    monkeypatch.setattr(KnowledgeBaseService, "decide", middling)
    return wire_account(state, live_hub.url, sandbox.url)


def _reply(brand: Any, worker: Any, openid: str, text: str) -> str:
    """What the fan gets back: the passive reply, or what the worker sent through the API."""
    before = len(brand.outbox(openid))
    answer = brand.say(openid, text=text)["reply_text"]
    if answer is not None:
        return answer
    worker()
    sent = brand.outbox(openid)
    assert len(sent) == before + 1, sent
    return sent[-1]["text"]["content"]


def test_a_middling_question_gets_a_numbered_list_and_the_number_gets_that_answer(
        brand: Any, state: Any, worker: Any) -> None:
    ranked = [hit.entry_id for hit in kb_service(state).search(MIDDLING, k=3)]
    assert len(set(ranked)) == 3
    by_id = {e["id"]: e for e in ENTRIES}
    offered = _reply(brand, worker, "fan-1", MIDDLING)
    assert offered.splitlines() == ["您是想问：", *(f"{n}. {by_id[entry]['question']}" for n, entry in
                                               enumerate(ranked, start=1)), "回复序号查看答案，或换个说法。"]
    assert _reply(brand, worker, "fan-1", "2") == by_id[ranked[1]]["answer"]
    # The full-width digit a Chinese keyboard types, and a circled one, pick from the list as well.
    assert _reply(brand, worker, "fan-2", MIDDLING) == offered
    assert _reply(brand, worker, "fan-2", "２") == by_id[ranked[1]]["answer"]
    assert _reply(brand, worker, "fan-3", MIDDLING) == offered
    assert _reply(brand, worker, "fan-3", "③") == by_id[ranked[2]]["answer"]
    worker()
    with Session(state.engine) as session:
        hits = dict(session.exec(select(KbEntry.external_id, KbEntry.hits)).all())
        lists = session.exec(select(Message.meta).where(Message.direction == OUT, Message.text == offered)).all()
    assert hits[ranked[1]] == 2 and hits[ranked[2]] == 1 and hits[ranked[0]] == 0
    assert [meta["suggestions"] for meta in lists] == [ranked] * 3


def test_a_number_without_a_list_before_it_is_no_choice(brand: Any, state: Any, worker: Any) -> None:
    """"2" picks only from a list the bot just offered; a number that is not on the list is no choice either."""
    offered = _reply(brand, worker, "fan-4", MIDDLING)
    assert offered.startswith("您是想问")
    answers = {e["answer"] for e in ENTRIES}
    brand.say("fan-4", text="7")
    brand.say("fan-5", text="2")
    worker()
    sent = [m["text"]["content"] for openid in ("fan-4", "fan-5") for m in brand.outbox(openid)]
    with Session(state.engine) as session:
        replies = session.exec(select(Message.text).where(Message.direction == OUT)).all()
    assert not answers & set(replies) and not answers & set(sent)


def test_no_after_the_list_hands_off_with_the_questions_candidates(brand: Any, state: Any, worker: Any) -> None:
    """"没用" after the list: the ticket carries the candidates of the fan's question and the knowledge base
    learns the question — nothing is matched to, or proposed from, the words "没用"."""
    from hub.kb import KbProposal, candidates_for
    from hub.tickets.models import Ticket

    assert _reply(brand, worker, "fan-6", MIDDLING).startswith("您是想问")
    brand.say("fan-6", text="没用")
    worker()
    with Session(state.engine) as session:
        ticket = session.exec(select(Ticket)).one()
        proposed = session.exec(select(KbProposal.question)).all()
    assert ticket.candidates == candidates_for(kb_service(state), MIDDLING) and len(ticket.candidates) == 3
    assert set(proposed) <= {MIDDLING}
