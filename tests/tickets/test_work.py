"""An agent's replies and notes: each reply stored exactly once (also when sent twice at the same moment), tied
to the ticket and delivered through the WeChat emulator; refused with the reason when WeChat would refuse it
(48-hour window, quota) or the ticket is closed; notes never reach the fan; canned replies fill placeholders."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from hub.core.db import session_scope
from hub.core.models import FAILED, IN, OUT, Message, utcnow
from hub.intake.journal import flush_all
from hub.outbound import record_outbound
from hub.tickets import Conflict, Effects, TicketError, run_effects, ticket_detail
from hub.tickets.canned import canned_by_shortcut, create_canned, list_canned, render, render_for, update_canned
from hub.tickets.lifecycle import lock_ticket, set_status
from hub.tickets.models import ASSIGNED, OPEN, RESOLVED, WAITING, Ticket, TicketEvent, TicketMessage
from hub.tickets.work import add_note, reply
from tests.support.tickets_setup import check_invariants, fan_message, make_account, make_agent, open_for
from tests.support.wechat_setup import wire_account


def _ticket(state: Any, ticket_id: int) -> Ticket:
    with Session(state.engine) as session:
        return session.get(Ticket, ticket_id)


def _reply(state: Any, ticket_id: int, actor_id: int, text: str, **kw: Any) -> int:
    fx = Effects()
    with session_scope(state.engine) as session:
        out_id = reply(session, state.config, session.get(Ticket, ticket_id), actor_id, text, fx=fx, **kw)
    run_effects(state, fx)
    return out_id


def _outbound(state: Any) -> list[Message]:
    """The agents' replies (resolving a ticket also sends a satisfaction survey)."""
    with Session(state.engine) as session:
        return list(session.exec(select(Message).where(Message.direction == OUT, col(Message.source).startswith(
            "agent:")).order_by(Message.id)).all())


def _events(state: Any, ticket_id: int, kind: str) -> list[TicketEvent]:
    with Session(state.engine) as session:
        return list(session.exec(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id,
                                                           TicketEvent.kind == kind)).all())


@pytest.fixture
def setup(state: Any) -> tuple[int, int]:
    """(ticket id, agent id): a fan's open ticket and an online agent, nothing routed yet."""
    account = make_account(state)
    agent = make_agent(state, "a@x.cn")
    ticket_id, _ = open_for(state, fan_message(state, account, "o1", "我要投诉"), run=False)
    return ticket_id, agent


def test_a_reply_takes_the_open_ticket_is_linked_and_sets_the_first_response_once(state: Any,
                                                                                 setup: tuple[int, int]) -> None:
    ticket_id, agent = setup
    first = _reply(state, ticket_id, agent, "  您好，我来处理  ")
    ticket = _ticket(state, ticket_id)
    assert ticket.status == ASSIGNED and ticket.assignee_id == agent  # as in Chatwoot: replying takes it
    responded = ticket.first_response_at
    assert responded is not None
    second = _reply(state, ticket_id, agent, "请提供订单号")
    assert _ticket(state, ticket_id).first_response_at == responded
    [one, two] = _outbound(state)
    assert (one.id, one.text, one.source, one.via, one.status) == (first, "您好，我来处理", f"agent:{agent}", "api",
                                                                   "queued")
    assert one.meta["ticket_id"] == ticket_id and two.id == second
    with Session(state.engine) as session:
        assert {m.message_id for m in session.exec(select(TicketMessage).where(
            TicketMessage.ticket_id == ticket_id)).all()} >= {first, second}
    assert [e.data["first"] for e in _events(state, ticket_id, "replied")] == [True, False]
    assert len(_events(state, ticket_id, "assigned")) == 1
    check_invariants(state)


def test_a_reply_can_leave_the_ticket_waiting_or_resolved_and_a_retry_returns_the_same_message(
        state: Any, setup: tuple[int, int]) -> None:
    ticket_id, agent = setup
    _reply(state, ticket_id, agent, "请稍等", status=WAITING)
    assert _ticket(state, ticket_id).status == WAITING
    done = _reply(state, ticket_id, agent, "已为您退款", client_key="k-1", status=RESOLVED)
    assert _ticket(state, ticket_id).status == RESOLVED
    # The same request again (a retry after a lost response): the stored reply, not a conflict.
    assert _reply(state, ticket_id, agent, "已为您退款", client_key="k-1", status=RESOLVED) == done
    assert len(_outbound(state)) == 2
    with pytest.raises(TicketError, match="waiting or resolved"):
        _reply(state, ticket_id, agent, "x", status="closed")
    check_invariants(state)


@pytest.mark.parametrize("same_key", [True, False])
def test_replies_sent_at_the_same_moment_are_stored_once_each(state: Any, setup: tuple[int, int],
                                                              same_key: bool) -> None:
    ticket_id, agent = setup
    threads_n = 6 if same_key else 5  # five: WeChat's quota between two of the fan's messages
    barrier = threading.Barrier(threads_n)
    results: list[int] = []
    errors: list[BaseException] = []

    def post(i: int) -> None:
        barrier.wait()
        try:
            key = "double-click" if same_key else f"key-{i}"
            results.append(_reply(state, ticket_id, agent, "您好" if same_key else f"回复 {i}", client_key=key))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    stored = _outbound(state)
    if same_key:
        assert len(stored) == 1 and set(results) == {stored[0].id}
    else:
        assert sorted(m.text for m in stored) == sorted(f"回复 {i}" for i in range(threads_n))
        assert sorted(results) == [m.id for m in stored]
    assert len(_events(state, ticket_id, "replied")) == len(stored)
    assert _ticket(state, ticket_id).assignee_id == agent
    check_invariants(state)


def test_a_reply_after_the_48_hour_window_is_refused_with_the_reason_and_nothing_stored(
        state: Any, setup: tuple[int, int]) -> None:
    ticket_id, agent = setup
    long_ago = utcnow() - timedelta(hours=49)
    with session_scope(state.engine) as session:
        session.execute(update(Message).where(col(Message.direction) == IN).values(sent_at=long_ago))
        ticket = session.get(Ticket, ticket_id)
        ticket.last_fan_message_at = long_ago
        session.add(ticket)
    with pytest.raises(Conflict) as refused:
        _reply(state, ticket_id, agent, "您好")
    closes = long_ago + timedelta(hours=48)
    assert f"closed at {closes:%Y-%m-%d %H:%M}" in refused.value.message
    assert "must write again" in refused.value.message and refused.value.status == 409
    assert _outbound(state) == []
    assert _ticket(state, ticket_id).status == OPEN and _ticket(state, ticket_id).first_response_at is None
    check_invariants(state)


def test_a_reply_beyond_the_quota_of_five_is_refused(state: Any, setup: tuple[int, int]) -> None:
    ticket_id, agent = setup
    with session_scope(state.engine) as session:
        last_in = session.exec(select(Message).where(Message.direction == IN)).one()
        sent = [record_outbound(session, last_in, last_in.id, f"bot {i}", source="bot", via="api",
                                dedupe_key=f"q{i}") for i in range(5)]
    with pytest.raises(Conflict, match="quota of 5"):
        _reply(state, ticket_id, agent, "第六条")
    with session_scope(state.engine) as session:  # a message WeChat refused used no quota
        session.execute(update(Message).where(col(Message.id) == sent[0]).values(status=FAILED))
    _reply(state, ticket_id, agent, "第六条")
    with pytest.raises(Conflict, match="quota"):
        _reply(state, ticket_id, agent, "第七条")
    fan_message(state, _ticket(state, ticket_id).account_id, "o1", "还在吗")  # the fan writes: a fresh quota
    _reply(state, ticket_id, agent, "在的")


def test_no_reply_to_a_resolved_or_closed_ticket_and_no_empty_or_long_reply(state: Any,
                                                                            setup: tuple[int, int]) -> None:
    ticket_id, agent = setup
    for text in ("", "   ", "字" * 2001):
        with pytest.raises(TicketError, match="1–2000"):
            _reply(state, ticket_id, agent, text)
    _reply(state, ticket_id, agent, "字" * 2000)
    for status in (RESOLVED, "closed"):
        fx = Effects()
        with session_scope(state.engine) as session:
            set_status(session, state.config, lock_ticket(session, ticket_id), status, agent, fx)
        run_effects(state, fx)
        with pytest.raises(Conflict, match=f"is {status}: reopen it"):
            _reply(state, ticket_id, agent, "还有问题吗")
    assert len(_outbound(state)) == 1


def test_notes_are_logged_and_never_sent(state: Any, setup: tuple[int, int]) -> None:
    ticket_id, agent = setup
    fx = Effects()
    with session_scope(state.engine) as session:
        event_id = add_note(session, session.get(Ticket, ticket_id), agent, " 客户情绪激动，先安抚 ", fx)
    assert fx.send == [] and fx.route == set()
    run_effects(state, fx)
    [note] = _events(state, ticket_id, "noted")
    assert (note.id, note.actor_id, note.text) == (event_id, agent, "客户情绪激动，先安抚")
    assert _outbound(state) == []
    with session_scope(state.engine) as session, pytest.raises(TicketError, match="1–5000"):
        add_note(session, session.get(Ticket, ticket_id), agent, "x" * 5001, Effects())


def test_canned_replies_fill_their_placeholders(state: Any, setup: tuple[int, int]) -> None:
    ticket_id, agent = setup
    text = "{fan_name}您好，我是{agent_name}，工单 #{ticket_id} 已受理 {{感谢}}"
    filled = render(text, fan_name="小王", ticket_id=7, agent_name="客服 A")
    assert filled == "小王您好，我是客服 A，工单 #7 已受理 {感谢}"
    for bad, named in (("{name}", "{name}"), ("{fan_name!r}", "{fan_name!r}"), ("{}", "{}"),
                       ("{ticket_id:>5}", "{ticket_id:>5}")):
        with pytest.raises(TicketError) as refused:
            render(bad, fan_name="", ticket_id=1, agent_name="")
        assert f"unknown placeholder {named}" in refused.value.message
    with pytest.raises(TicketError, match="literal brace"):
        render("a } b", fan_name="", ticket_id=1, agent_name="")
    with session_scope(state.engine) as session:
        create_canned(session, "greet", text)
        with pytest.raises(TicketError, match="unknown placeholder {order}"):
            create_canned(session, "bad", "订单 {order}")
    with session_scope(state.engine) as session, pytest.raises(Conflict, match="exists already"):
        create_canned(session, "greet", "again")
    with session_scope(state.engine) as session:
        canned = canned_by_shortcut(session, "greet")
        update_canned(session, canned.id, text="{fan_name}您好，工单 {ticket_id}")
        rendered = render_for(session, canned.text, session.get(Ticket, ticket_id), agent)
        assert [c["shortcut"] for c in list_canned(session, q="工单")] == ["greet"]
    assert rendered == f"fan o1您好，工单 {ticket_id}"
    _reply(state, ticket_id, agent, rendered)
    assert _outbound(state)[0].text == rendered


@pytest.fixture
def brand(state: Any, live_hub: Any, sandbox: Any) -> Any:
    return wire_account(state, live_hub.url, sandbox.url)


def test_the_reply_reaches_the_fan_on_wechat_and_a_failed_delivery_shows_its_error(
        brand: Any, state: Any, worker: Any) -> None:
    agent = make_agent(state, "a@x.cn", status="offline")  # nobody is routed the ticket: the reply takes it
    brand.say("fan-1", text="我的订单还没到")
    flush_all(state)
    worker()
    with Session(state.engine) as session:
        inbound = session.exec(select(Message).where(Message.direction == IN)).one()
    ticket_id, _ = open_for(state, inbound)
    out_id = _reply(state, ticket_id, agent, "已为您催促物流")
    worker()
    assert _delivered(brand).count("已为您催促物流") == 1
    brand.fault("message/custom/send", count=1, errcode=45015)  # WeChat refuses this one
    failed_id = _reply(state, ticket_id, agent, "请查收")
    worker()
    with Session(state.engine) as session:
        assert session.get(Message, out_id).status == "sent"
        detail = ticket_detail(session, ticket_id)
    shown = {m["id"]: m for m in detail["messages"]}
    assert shown[out_id]["source"] == "agent" and shown[out_id]["agent"] == "a@x.cn"
    assert shown[failed_id]["status"] == "failed" and shown[failed_id]["error_code"] == "45015"
    assert "48 hours" in shown[failed_id]["error_message"]
    assert shown[inbound.id]["source"] == "fan" and shown[inbound.id]["direction"] == "in"
    assert "请查收" not in _delivered(brand)


def _delivered(brand: Any) -> list[str]:
    return [(m.get("text") or {}).get("content") for m in brand.outbox("fan-1")]
