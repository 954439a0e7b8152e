"""CSAT: resolving a ticket sends the fan a survey on WeChat (within the 48-hour window and the 5-message
quota, otherwise the ticket's log says why not); the fan's "5 很好" lands on the ticket as score and comment, is
thanked and does not reopen it; a survey the WeChat API refuses for a while is delivered once it recovers, once.
Through the webhook, the worker and the WeChat emulator."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from hub.core.db import session_scope
from hub.core.models import IN, OUT, Message, utcnow
from hub.intake.journal import flush_all
from hub.outbound import record_outbound
from hub.tickets.csat import SURVEY_TEXT, THANKS_TEXT, csat_summary, parse_answer
from hub.tickets.models import ASSIGNED, RESOLVED, Ticket, TicketEvent
from tests.support.demo_setup import wire_demo
from tests.support.tickets_setup import fan_message, make_account, make_agent, open_for, resolve, ticket_row
from tests.support.wechat_setup import wire_account


@pytest.fixture
def demo(state: Any, live_hub: Any, sandbox: Any) -> Any:
    return wire_demo(state, live_hub.url, sandbox)


def _tickets(state: Any) -> list[Ticket]:
    with Session(state.engine) as session:
        return list(session.exec(select(Ticket).order_by(col(Ticket.id))).all())


def _events(state: Any, ticket_id: int, kind: str) -> list[TicketEvent]:
    with Session(state.engine) as session:
        return list(session.exec(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id,
                                                           TicketEvent.kind == kind)).all())


def _received(account: Any, openid: str) -> list[str]:
    return [m["text"]["content"] for m in account.outbox(openid)]


def test_the_fan_scores_the_service_after_resolution(demo: Any, state: Any, worker: Any) -> None:
    agent = make_agent(state, "agent@x.cn")
    demo.say("fan-1", text="转人工")
    worker()
    [ticket] = _tickets(state)
    assert ticket.status == ASSIGNED and ticket.assignee_id == agent
    resolve(state, ticket.id)
    worker()
    assert _received(demo, "fan-1")[-1] == SURVEY_TEXT
    assert ticket_row(state, ticket.id).csat_requested_at is not None
    flush_all(state)
    assert demo.say("fan-1", text="5 很好")["reply_text"] in ("", None)  # no bot answers a survey's answer
    worker()
    ticket = ticket_row(state, ticket.id)
    assert (ticket.status, ticket.csat_score, ticket.csat_comment) == (RESOLVED, 5, "很好")  # not reopened
    [event] = _events(state, ticket.id, "csat")
    assert event.data["score"] == 5 and event.data["comment"] == "很好"
    received = _received(demo, "fan-1")
    assert received[-2:] == [SURVEY_TEXT, THANKS_TEXT] and received.count(SURVEY_TEXT) == 1
    with Session(state.engine) as session:
        assert csat_summary(session) == {"requested": 1, "responses": 1, "average": 5.0, "satisfied_percent": 100.0}
        assert csat_summary(session, since=utcnow() + timedelta(minutes=1))["responses"] == 0
    assert len(_tickets(state)) == 1


def test_a_survey_the_api_refuses_for_a_while_is_delivered_once(state: Any, live_hub: Any, sandbox: Any,
                                                                worker: Any) -> None:
    brand = wire_account(state, live_hub.url, sandbox.url)
    brand.say("fan-1", text="你好")  # the fan writes: WeChat's window opens
    worker()
    with Session(state.engine) as session:
        message = session.exec(select(Message).where(Message.direction == IN)).one()
        session.expunge(message)
    ticket_id, _ = open_for(state, message)
    brand.fault("message/custom/send", count=3, errcode=-1)  # WeChat is busy for three calls
    resolve(state, ticket_id)
    worker()
    assert _received(brand, "fan-1") == [SURVEY_TEXT]
    with Session(state.engine) as session:
        [survey] = session.exec(select(Message).where(Message.direction == OUT, Message.source == "csat")).all()
        assert survey.status == "sent" and survey.attempts == 4
    resolve(state, ticket_id)  # resolving again (nothing changes) asks nothing more
    worker()
    assert _received(brand, "fan-1") == [SURVEY_TEXT]


def test_no_survey_once_the_fans_window_has_closed(state: Any, worker: Any) -> None:
    account = make_account(state)
    ticket_id, _ = open_for(state, fan_message(state, account, "o1", "人工"))
    with session_scope(state.engine) as session:
        session.execute(update(Ticket).where(col(Ticket.id) == ticket_id)
                        .values(last_fan_message_at=utcnow() - timedelta(hours=49)))
    resolve(state, ticket_id)
    worker()
    [skipped] = _events(state, ticket_id, "csat_skipped")
    assert "48-hour window" in skipped.data["why"]
    assert ticket_row(state, ticket_id).csat_requested_at is None
    with Session(state.engine) as session:
        assert session.exec(select(Message).where(Message.direction == OUT)).all() == []


def test_no_survey_when_the_fans_quota_is_used_up(state: Any, worker: Any) -> None:
    account = make_account(state)
    message = fan_message(state, account, "o1", "人工")
    ticket_id, _ = open_for(state, message)
    with session_scope(state.engine) as session:
        for n in range(5):
            record_outbound(session, message, message.id, f"回复 {n}", source="agent", via="api",
                            dedupe_key=f"test:{n}")
    resolve(state, ticket_id)
    worker()
    [skipped] = _events(state, ticket_id, "csat_skipped")
    assert "5 customer-service messages" in skipped.data["why"]


def test_the_quota_counts_only_since_the_fans_last_message(state: Any, worker: Any) -> None:
    account = make_account(state)
    first = fan_message(state, account, "o1", "人工")
    with session_scope(state.engine) as session:
        for n in range(5):
            record_outbound(session, first, first.id, f"回复 {n}", source="agent", via="api", dedupe_key=f"t:{n}")
    ticket_id, _ = open_for(state, fan_message(state, account, "o1", "还在吗"))  # the fan wrote again
    resolve(state, ticket_id)
    worker()
    assert _events(state, ticket_id, "csat_skipped") == []
    assert ticket_row(state, ticket_id).csat_requested_at is not None


@pytest.mark.parametrize(("text", "answer"), [
    ("5 很好", (5, "很好")), ("5", (5, "")), ("５分，不错", (5, "不错")), ("3星 还行", (3, "还行")),
    ("1。太慢了", (1, "太慢了")), ("10点还营业吗", None), ("12345", None), ("6", None), ("很好", None),
])
def test_parse_answer(text: str, answer: tuple[int, str] | None) -> None:
    assert parse_answer(text) == answer
