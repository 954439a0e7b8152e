"""Issue 17: one-character messages ("1", "2", "好", "嗯") are answered, and a fan picks from the FAQ
bot's numbered "您是想问…" list by replying with its number — through the webhook and the worker."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlmodel import Session, select

from hub.core.db import session_scope
from hub.core.models import Message
from hub.demo.data import DEMO_KB, DEMO_RULES
from hub.intake.journal import flush_all
from hub.outbound.record import record_outbound
from hub.tickets.models import Ticket
from tests.support.demo_setup import wire_demo
from tests.support.wechat_setup import messages

ANSWERS = {row["id"]: row["answer"] for row in map(json.loads, DEMO_KB.read_text(encoding="utf-8").splitlines())}
DEFAULT_REPLY = next(reply for kind, _m, _p, reply, _prio in DEMO_RULES if kind == "default")


@pytest.fixture
def demo(state: Any, live_hub: Any, sandbox: Any) -> Any:
    return wire_demo(state, live_hub.url, sandbox)


def _answered(state: Any, message: Message) -> bool:
    with Session(state.engine) as session:
        reply = session.exec(select(Message).where(Message.reply_to_id == message.id)).first()
        ticket = session.exec(select(Ticket).where(Ticket.fan_id == message.fan_id)).first()
    return reply is not None or ticket is not None


def test_one_character_messages_are_classified_and_answered(demo: Any, state: Any, worker: Any) -> None:
    texts = ["1", "2", "好", "嗯", "?"]
    replies = {text: demo.say(f"fan-{i}", text=text)["reply_text"] for i, text in enumerate(texts)}
    worker()
    inbound = messages(state, "in")
    assert [(m.text, m.status) for m in inbound] == [(text, "processed") for text in texts]
    assert all(_answered(state, m) for m in inbound)
    # The intent classifier ran on them (it used to raise on any text of 0-1 characters).
    assert all((m.meta or {}).get("intent") for m in inbound if m.text != "?")
    # "好" and "嗯" are chit-chat: the account's default reply answers them at once, in the webhook.
    assert replies["好"] == replies["嗯"] == DEFAULT_REPLY


@pytest.mark.parametrize("choice", ["1", " 1 ", "１", "1."])
def test_a_fan_answers_the_numbered_list_with_its_number(demo: Any, state: Any, worker: Any, choice: str) -> None:
    offered = demo.say("fan-a", text="我想改一下")["reply_text"]  # close to one entry, not close enough
    assert offered.startswith("您是想问") and "1. 怎么修改收货地址" in offered
    flush_all(state)  # the list is in the database (a fan takes longer than the journal's few milliseconds)
    assert demo.say("fan-a", text=choice)["reply_text"] == ANSWERS["change-address"]
    worker()
    assert [m.status for m in messages(state, "in")] == ["processed", "processed"]


def test_the_second_item_of_a_two_item_list(demo: Any, state: Any, worker: Any) -> None:
    demo.say("fan-b", text="你好呀")  # the fan exists; now the FAQ bot offers a list of two
    worker()
    first = messages(state, "in")[0]
    with session_scope(state.engine) as session:
        first = session.get(Message, first.id)
        offered = "您是想问：\n1. 怎么查物流\n2. 怎么修改收货地址\n回复序号查看答案，或换个说法。"
        record_outbound(session, first, first.id, offered, source="faq", via="passive",
                        meta={"suggestions": ["track-order", "change-address"]}, dedupe_key="list-of-two")
    assert demo.say("fan-b", text="2")["reply_text"] == ANSWERS["change-address"]
    worker()
    assert all(m.status == "processed" for m in messages(state, "in"))
