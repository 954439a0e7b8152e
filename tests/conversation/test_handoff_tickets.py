"""Issue 19: while a person handles a fan the bots stay quiet and the fan's messages land on the ticket;
welcome and menu events still work; a message soon after resolution reopens the ticket, a later one does not;
two hand-offs of one fan at the same moment make one ticket. Through the webhook, the worker and the WeChat
emulator (the demo account, real models)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from bots.intent_handoff import HANDOFF_TEXT
from hub.core.db import session_scope
from hub.core.models import Message, utcnow
from hub.intake.journal import flush_all
from hub.tickets import Effects, run_effects
from hub.tickets.lifecycle import lock_ticket, set_status
from hub.tickets.models import ASSIGNED, OPEN, RESOLVED, Ticket, TicketMessage
from tests.support.demo_setup import wire_demo
from tests.support.tickets_setup import check_invariants, fan_message, make_account, make_agent, open_for

PRICE_REPLY = "旗舰款 2999 元"


@pytest.fixture
def demo(state: Any, live_hub: Any, sandbox: Any) -> Any:
    return wire_demo(state, live_hub.url, sandbox)


def _tickets(state: Any) -> list[Ticket]:
    with Session(state.engine) as session:
        return list(session.exec(select(Ticket).order_by(Ticket.id)).all())


def _on_ticket(state: Any, ticket_id: int) -> list[str]:
    with Session(state.engine) as session:
        return list(session.exec(select(Message.text).join(TicketMessage, TicketMessage.message_id == Message.id)
                                 .where(TicketMessage.ticket_id == ticket_id).order_by(Message.id)).all())


def _bot_replies_to(state: Any, text: str) -> list[str]:
    with Session(state.engine) as session:
        asked = session.exec(select(Message.id).where(Message.text == text, Message.direction == "in")).all()
        return list(session.exec(select(Message.text).where(Message.reply_to_id.in_(asked))).all())  # type: ignore[union-attr]


def _resolve(state: Any, ticket_id: int, ago: timedelta = timedelta(0)) -> None:
    fx = Effects()
    with session_scope(state.engine) as session:
        ticket = lock_ticket(session, ticket_id)
        set_status(session, state.config, ticket, RESOLVED, None, fx)
        ticket.resolved_at = utcnow() - ago
        session.add(ticket)
    run_effects(state, fx)


def test_the_bots_stay_quiet_while_a_person_handles_the_fan(demo: Any, state: Any, worker: Any) -> None:
    agent = make_agent(state, "agent@x.cn")
    assert PRICE_REPLY in demo.say("fan-1", text="价格")["reply_text"]  # the keyword rule answers at first
    demo.say("fan-1", text="我要转人工")
    worker()
    [ticket] = _tickets(state)
    assert ticket.status == ASSIGNED and ticket.assignee_id == agent and ticket.subject == "价格"
    flush_all(state)
    # Now a person handles the fan: no keyword, FAQ or default reply, in the webhook or the worker.
    assert demo.say("fan-1", text="价格")["reply_text"] in ("", None)
    assert demo.say("fan-1", text="嗯")["reply_text"] in ("", None)
    worker()
    assert _on_ticket(state, ticket.id) == ["我要转人工", HANDOFF_TEXT, "价格", "嗯"]  # the notice is on it too
    assert _bot_replies_to(state, "嗯") == []
    # Events still work: the menu click is answered.
    assert "客服热线" in demo.say("fan-1", event="CLICK", key="MENU_HOTLINE")["reply_text"]
    worker()
    # Another fan is answered as before.
    assert PRICE_REPLY in demo.say("fan-2", text="价格")["reply_text"]
    check_invariants(state)


def test_a_message_soon_after_resolution_reopens_later_ones_reach_the_bots(demo: Any, state: Any,
                                                                           worker: Any) -> None:
    agent = make_agent(state, "agent@x.cn")
    demo.say("fan-1", text="我要转人工")
    worker()
    [ticket] = _tickets(state)
    _resolve(state, ticket.id)
    flush_all(state)
    assert demo.say("fan-1", text="还有一个问题")["reply_text"] in ("", None)
    worker()
    [reopened] = _tickets(state)
    assert reopened.status == ASSIGNED and reopened.assignee_id == agent  # back to the same agent
    assert "还有一个问题" in _on_ticket(state, ticket.id)
    _resolve(state, ticket.id, ago=timedelta(minutes=state.config.ticket_reopen_minutes + 1))
    with session_scope(state.engine) as session:  # the survey, if any, was answered long ago
        row = session.get(Ticket, ticket.id)
        row.csat_requested_at = None
        session.add(row)
    flush_all(state)
    assert PRICE_REPLY in demo.say("fan-1", text="价格")["reply_text"]
    worker()
    assert [t.status for t in _tickets(state)] == [RESOLVED]


def test_concurrent_hand_offs_of_one_fan_make_one_ticket(state: Any) -> None:
    account = make_account(state)
    messages = [fan_message(state, account, "o1", f"人工 {i}") for i in range(8)]
    results: list[tuple[int, str]] = []
    barrier = threading.Barrier(len(messages))

    def hand_off(message: Message) -> None:
        barrier.wait()
        results.append(open_for(state, message, run=False))

    threads = [threading.Thread(target=hand_off, args=(m,)) for m in messages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({ticket_id for ticket_id, _ in results}) == 1
    assert sorted(how for _, how in results) == ["joined"] * 7 + ["opened"]
    [ticket] = _tickets(state)
    assert ticket.status == OPEN and len(_on_ticket(state, ticket.id)) == 8
