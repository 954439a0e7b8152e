"""Listing tickets: filters, paging, the text search, the older whole-list form `hub tickets list` uses, and one
ticket's page: its conversation in order (who wrote each message, how its delivery went) and its event log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from hub.core.db import session_scope
from hub.core.models import IN, Fan, Message
from hub.outbound import record_outbound
from hub.tickets import Effects, NotFound, TicketError, all_tickets, list_tickets, run_effects, ticket_detail
from hub.tickets.lifecycle import lock_ticket, set_status
from hub.tickets.models import ASSIGNED, OPEN, RESOLVED, Ticket
from hub.tickets.routing import assign_to
from hub.tickets.work import add_note, reply
from tests.support.tickets_setup import fan_message, make_account, make_agent, make_team, open_for

CONTRACT_FIELDS = {"id", "fan", "status", "assignee", "team", "priority", "intent", "created_at"}


@pytest.fixture
def world(state: Any) -> dict[str, Any]:
    """Six tickets: 售后 (two assigned to a, one open), 数码 (one open, high), no team (one resolved, one open)."""
    account = make_account(state)
    sales, digital = make_team(state, "售后"), make_team(state, "数码")
    a = make_agent(state, "a@x.cn", ("售后",))
    make_agent(state, "b@x.cn", ("数码",))
    specs = [("o1", "我要投诉 物流太慢", sales, 3), ("o2", "退款 100% 到账了吗", sales, 2), ("o3", "发票", sales, 2),
             ("o4", "手机 屏幕坏了", digital, 3), ("o5", "人工", None, 1), ("o6", "在吗", None, 2)]
    ids = [open_for(state, fan_message(state, account, sender, text), team_id=team, priority=priority, run=False)[0]
           for sender, text, team, priority in specs]
    with session_scope(state.engine) as session:
        session.get(Fan, session.get(Ticket, ids[2]).fan_id).display_name = "王小美"
        for ticket_id in ids[:2]:
            assign_to(session, lock_ticket(session, ticket_id), a, None, Effects())
        set_status(session, state.config, lock_ticket(session, ids[4]), RESOLVED, None, Effects())
    return {"ids": ids, "a": a, "sales": sales, "digital": digital}


def _ids(page: tuple[list[dict[str, Any]], int]) -> list[int]:
    return [item["id"] for item in page[0]]


def test_filters_combine_and_the_total_counts_every_match(state: Any, world: dict[str, Any]) -> None:
    ids = world["ids"]
    assert _ids(list_tickets(state)) == ids[::-1]  # newest first
    assert list_tickets(state, status=OPEN)[1] == 3
    assert _ids(list_tickets(state, status="open,assigned", sort="oldest")) == [ids[0], ids[1], ids[2], ids[3],
                                                                                 ids[5]]
    assert _ids(list_tickets(state, status=[ASSIGNED])) == [ids[1], ids[0]]
    assert _ids(list_tickets(state, assignee_id=world["a"], sort="oldest")) == ids[:2]
    assert _ids(list_tickets(state, unassigned=True, status=OPEN)) == [ids[5], ids[3], ids[2]]
    assert _ids(list_tickets(state, team_id=world["digital"])) == [ids[3]]
    assert _ids(list_tickets(state, priority="high")) == _ids(list_tickets(state, priority=3)) == [ids[3], ids[0]]
    fan = list_tickets(state, fan_id=_fan_of(state, ids[3]))
    assert _ids(fan) == [ids[3]] and fan[0][0]["fan_name"] == "fan o4"
    assert _ids(list_tickets(state, sort="priority", status=OPEN)) == [ids[3], ids[2], ids[5]]
    with Session(state.engine) as session:  # a session works as well as the state
        assert list_tickets(session, team_id=world["sales"], assignee_id=world["a"])[1] == 2


def test_the_search_looks_at_the_subject_the_fans_name_and_the_number(state: Any, world: dict[str, Any]) -> None:
    ids = world["ids"]
    assert _ids(list_tickets(state, q="物流")) == [ids[0]]
    assert _ids(list_tickets(state, q="王小美")) == [ids[2]]
    assert _ids(list_tickets(state, q=f"#{ids[4]}")) == [ids[4]]
    assert _ids(list_tickets(state, q="100%")) == [ids[1]]  # a literal %, not a wildcard
    assert list_tickets(state, q="_") == ([], 0)
    assert _ids(list_tickets(state, q="FAN O6")) == [ids[5]]  # case does not matter


def test_pages_walk_the_list_and_bad_input_is_refused(state: Any, world: dict[str, Any]) -> None:
    ids = world["ids"]
    pages = [list_tickets(state, limit=4, offset=offset) for offset in (0, 4, 8)]
    assert [_ids(p) for p in pages] == [ids[::-1][:4], ids[::-1][4:], []]
    assert {total for _, total in pages} == {6}
    for bad in ({"status": "lost"}, {"priority": "huge"}, {"priority": 9}, {"limit": 0}, {"limit": 201},
                {"offset": -1}, {"sort": "random"}):
        with pytest.raises(TicketError):
            list_tickets(state, **bad)


def test_every_ticket_is_listed_with_the_contract_fields(state: Any, world: dict[str, Any]) -> None:
    ids = world["ids"]
    rows = all_tickets(state)
    assert [row["id"] for row in rows] == ids  # oldest first, no paging
    assert set(rows[0]) >= CONTRACT_FIELDS
    first = rows[0]
    assert (first["status"], first["assignee"], first["team"]) == (ASSIGNED, "a@x.cn", "售后")
    assert first["priority"] == "high"
    assert first["subject"] == "我要投诉 物流太慢" and first["channel"] == "wechat" and first["csat_score"] is None
    assert rows[4]["team"] is None and rows[4]["assignee"] is None and rows[4]["priority"] == "low"
    assert [row["id"] for row in all_tickets(state, "assigned")] == ids[:2]
    with Session(state.engine) as session:
        ticket = session.get(Ticket, ids[0])
        fan_wrote = ticket.last_fan_message_at
    assert first["window_closes_at"] is not None
    assert first["window_closes_at"][:19] == (fan_wrote + timedelta(hours=48)).isoformat()[:19]


def test_the_detail_shows_the_conversation_in_order_and_the_event_log(state: Any, world: dict[str, Any]) -> None:
    ticket_id, agent = world["ids"][0], world["a"]
    with session_scope(state.engine) as session:
        first_in = session.exec(select(Message).where(Message.direction == IN).order_by(Message.id)).first()
        note_to_fan = record_outbound(session, first_in, first_in.id, "正在为您转接人工", source="handoff", via="api")
    account = first_in.account_id
    second_in = fan_message(state, account, "o1", "快点")
    open_for(state, second_in, run=False)
    fx = Effects()
    with session_scope(state.engine) as session:
        ticket = session.get(Ticket, ticket_id)
        out_id = reply(session, state.config, ticket, agent, "马上处理", fx=fx)
        add_note(session, ticket, agent, "VIP 客户", fx)
    run_effects(state, fx)
    with Session(state.engine) as session:
        detail = ticket_detail(session, ticket_id)
        with pytest.raises(NotFound):
            ticket_detail(session, 9999)
    assert (detail["fan"], detail["fan_name"]) == (first_in.fan_id, "fan o1")
    assert detail["assignee"] == "a@x.cn" and detail["first_response_at"] is not None
    conversation = [(m["id"], m["direction"], m["source"], m["text"]) for m in detail["messages"]]
    assert conversation == [(first_in.id, "in", "fan", "我要投诉 物流太慢"),
                            (note_to_fan, "out", "bot", "正在为您转接人工"),
                            (second_in.id, "in", "fan", "快点"), (out_id, "out", "agent", "马上处理")]
    agent_reply = detail["messages"][-1]
    assert agent_reply["agent"] == "a@x.cn" and agent_reply["status"] == "queued" and agent_reply["error_code"] is None
    assert detail["messages"][1]["bot"] == "handoff"
    kinds = [(e["kind"], e["actor"]) for e in detail["events"]]
    assert kinds == [("opened", None), ("assigned", None), ("replied", "a@x.cn"), ("noted", "a@x.cn")]
    assert detail["events"][-1]["text"] == "VIP 客户" and detail["events"][2]["data"]["message_id"] == out_id


def _fan_of(state: Any, ticket_id: int) -> int:
    with Session(state.engine) as session:
        return session.get(Ticket, ticket_id).fan_id
