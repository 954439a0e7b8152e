"""The agent's workspace, server side (Flask test client, real Redis, SQLite and PostgreSQL): the queue with its
tabs, counts, filters and search; a ticket's conversation (the fan's whole history, notes, events, deliveries),
the fan beside it, the reply box's window and quota, the actions permissions allow; live updates; roles, CSRF and
escaping. The browser tests drive the same pages in chromium."""

from __future__ import annotations

import html
import itertools
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select
from werkzeug.security import generate_password_hash

from hub.core.db import session_scope
from hub.core.models import FAILED, IN, Fan, Identity, Message, User, utcnow
from hub.outbound import record_outbound
from hub.tags import create_tag
from hub.tickets import Effects, add_note, reply, run_effects
from hub.tickets.lifecycle import lock_ticket, set_status
from hub.tickets.models import Ticket
from hub.tickets.notify import notify
from hub.tickets.presence import set_status as set_presence
from tests.support.tickets_setup import fan_message, make_account, make_agent, make_team, open_for

PASSWORD = "password123"
XSS = "<script>alert(1)</script><b>x</b>"
_ids = itertools.count(1)


@pytest.fixture
def world(state: Any, worker: Any) -> dict[str, Any]:
    """售后 has a (online, then away) and b (offline); 数码 has c (offline); plus an admin and an operator.
    Fan o1's complaint is assigned to a; fan o2's question waits unassigned in 售后."""
    account = make_account(state)
    after_sales = make_team(state, "售后", ("complaint",))
    make_team(state, "数码", ("数码",))
    a = make_agent(state, "a@x.cn", ("售后",))
    b = make_agent(state, "b@x.cn", ("售后",), status="offline")
    c = make_agent(state, "c@x.cn", ("数码",), status="offline")
    with session_scope(state.engine) as session:
        session.add(User(email="admin@x.cn", role="admin", password_hash=generate_password_hash(PASSWORD)))
        session.add(User(email="op@x.cn", role="operator", password_hash=generate_password_hash(PASSWORD)))
        for user_id, name in ((a, "Agent A"), (b, "Agent B")):
            user = session.get(User, user_id)
            user.display_name = name
            session.add(user)
    first = fan_message(state, account, "o1", "我要投诉物流太慢")
    ticket, _ = open_for(state, first, team_id=after_sales, intent="complaint", priority=3)
    worker()
    fx = Effects()
    with session_scope(state.engine) as session:
        set_presence(session, a, "away", fx)  # nobody online: the next ticket waits
    run_effects(state, fx)
    second = fan_message(state, account, "o2", "请问怎么退货")
    waiting, _ = open_for(state, second, team_id=after_sales, intent="question")
    worker()
    with Session(state.engine) as session:
        assert session.get(Ticket, ticket).assignee_id == a
        assert session.get(Ticket, waiting).assignee_id is None
    return {"account": account, "a": a, "b": b, "c": c, "ticket": ticket, "waiting": waiting,
            "fan": first.fan_id, "fan2": second.fan_id, "team": after_sales}


def login(app: Any, email: str) -> Any:
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def text_of(response: Any) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def csrf_of(page: str) -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)


def tab_counts(page: str) -> dict[str, int]:
    return {tab: int(n) for tab, n in re.findall(r'data-tab="(\w+)"[^>]*>[^<]*<span class="count">(\d+)</span>', page)}


def row_ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'class="trow[^"]*"[^>]*data-id="(\d+)"', page)]


def fan_writes(state: Any, account: int, fan_id: int, kind: str, text: str = "", **meta: Any) -> int:
    """An inbound message of any kind from a fan who exists already (on their identity with the account)."""
    now = utcnow()
    with session_scope(state.engine) as session:
        identity = session.exec(select(Identity).where(Identity.fan_id == fan_id,
                                                       Identity.account_id == account)).one()
        message = Message(account_id=account, fan_id=fan_id, identity_id=identity.id, direction=IN, kind=kind,
                          text=text, external_id=f"k{next(_ids)}", sent_at=now, received_at=now, status="processed",
                          reply_state="none", source="fan", meta=meta, raw="")
        session.add(message)
        session.flush()
        return message.id


def answer(state: Any, message_id: int, text: str, source: str, *, failed: str | None = None) -> int:
    """An outbound message to a fan message: a bot's passive reply, or a customer-service message that failed."""
    with session_scope(state.engine) as session:
        inbound = session.get(Message, message_id)
        out_id = record_outbound(session, inbound, message_id, text, source=source,
                                 via="api" if failed else "passive", dedupe_key=f"t:{next(_ids)}")
        if failed:
            session.execute(update(Message).where(col(Message.id) == out_id).values(
                status=FAILED, error_code=failed, error_message="the fan has not written in the last 48 hours"))
        return out_id


# -- who may come in ------------------------------------------------------------------------------------------


def test_pages_need_an_agent_or_an_admin(app: Any, world: dict[str, Any]) -> None:
    anonymous = app.test_client()
    for path in ("/queue", f"/tickets/{world['ticket']}", "/live?since=0", "/notifications",
                 f"/tickets/{world['ticket']}/older?before=1"):
        response = anonymous.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login"), path
    operator = login(app, "op@x.cn")
    for path in ("/queue", f"/tickets/{world['ticket']}", "/live?since=0", "/notifications"):
        assert operator.get(path).status_code == 403, path
    token = csrf_of(text_of(operator.get("/overview")))
    refused = operator.post(f"/fans/{world['fan']}/tags", data={"tag": "x", "csrf_token": token})
    assert refused.status_code == 403
    admin = login(app, "admin@x.cn")
    assert admin.get("/").headers["Location"].endswith("/queue")
    assert tab_counts(text_of(admin.get("/queue")))["all"] == 2  # an admin (no agent) starts on "all"
    text_of(admin.get(f"/tickets/{world['ticket']}"))
    assert login(app, "a@x.cn").get("/tickets/999999").status_code == 404


# -- the queue -------------------------------------------------------------------------------------------------


def test_the_tabs_show_the_right_tickets_and_counts(app: Any, world: dict[str, Any]) -> None:
    a = login(app, "a@x.cn")
    page = text_of(a.get("/queue"))
    assert tab_counts(page) == {"mine": 1, "team": 2, "unassigned": 1, "all": 2}
    assert row_ids(page) == [world["ticket"]]  # an agent starts on their own tickets
    assert row_ids(text_of(a.get("/queue?tab=unassigned"))) == [world["waiting"]]
    assert sorted(row_ids(text_of(a.get("/queue?tab=team")))) == sorted([world["ticket"], world["waiting"]])
    assert len(row_ids(text_of(a.get("/queue?tab=all")))) == 2
    c = login(app, "c@x.cn")  # 数码: nothing of their team, but unassigned and all are shared
    assert tab_counts(text_of(c.get("/queue"))) == {"mine": 0, "team": 0, "unassigned": 1, "all": 2}
    # filters and search
    assert tab_counts(text_of(a.get("/queue?status=resolved")))["all"] == 0
    assert row_ids(text_of(a.get("/queue?tab=all&priority=high"))) == [world["ticket"]]
    assert row_ids(text_of(a.get(f"/queue?tab=all&team={world['team']}&status=open"))) == [world["waiting"]]
    assert row_ids(text_of(a.get("/queue?tab=all&q=退货"))) == [world["waiting"]]
    assert row_ids(text_of(a.get("/queue?tab=all&q=fan+o1"))) == [world["ticket"]]
    assert row_ids(text_of(a.get(f"/queue?tab=all&q=%23{world['waiting']}"))) == [world["waiting"]]
    assert row_ids(text_of(a.get("/queue?tab=all&q=nothing-like-this"))) == []
    assert text_of(a.get("/queue?tab=bogus&status=bogus&priority=bogus&page=x&team=x"))  # falls back to defaults


def test_a_queue_row_shows_what_an_agent_needs(app: Any, state: Any, world: dict[str, Any]) -> None:
    fan_writes(state, world["account"], world["fan"], "image", pic_url="https://mmbiz.example/pic.jpg",
               media_id="m1")
    fan_writes(state, world["account"], world["fan"], "text", "订单号是 12345")
    open_for(state, fan_message(state, world["account"], "o1", "快点处理"))
    page = text_of(login(app, "a@x.cn").get("/queue"))
    row = page[page.index(f'data-id="{world["ticket"]}"'):]
    row = row[: row.index("</tr>")]
    shown_in_row = ("我要投诉物流太慢", "快点处理", "fan o1", "高", "投诉", "已分配", "Agent A", "售后",
                    "窗口剩余 47小时")
    for shown in shown_in_row:
        assert shown in row, shown
    assert re.search(r'class="timer (ok|warn|bad)"', row)
    assert "j</kbd>" in page and 'id="queue-search"' in page


def test_the_queue_pages(app: Any, state: Any, world: dict[str, Any]) -> None:
    for n in range(55):
        message = fan_message(state, world["account"], f"p{n}", f"问题 {n}")
        open_for(state, message, team_id=world["team"], run=False)
    a = login(app, "a@x.cn")
    first = text_of(a.get("/queue?tab=all"))
    assert len(row_ids(first)) == 50 and "rel=\"next\"" in first
    second = text_of(a.get("/queue?tab=all&page=2"))
    assert len(row_ids(second)) == 7 and not set(row_ids(first)) & set(row_ids(second))
    narrow = text_of(a.get("/queue?tab=all&part=list&narrow=1&current=3"))
    assert "<html" not in narrow and len(row_ids(narrow)) == 30


# -- the conversation ------------------------------------------------------------------------------------------


def test_the_conversation_shows_the_fans_whole_history(app: Any, state: Any, worker: Any,
                                                         world: dict[str, Any]) -> None:
    account, fan, ticket = world["account"], world["fan"], world["ticket"]
    # an earlier conversation of the same fan, answered by the bot, outside any ticket
    with session_scope(state.engine) as session:
        first = session.exec(select(Message).where(Message.fan_id == fan).order_by(col(Message.id))).first()
    image = fan_writes(state, account, fan, "image", pic_url="https://mmbiz.example/p.jpg", media_id="MEDIA1")
    fan_writes(state, account, fan, "image", pic_url="javascript:alert(1)")
    fan_writes(state, account, fan, "voice", "快递三天没动", recognition="快递三天没动", media_id="V1")
    answer(state, image, "收到您的图片", "faq")
    answer(state, image, "客服这就来", "faq", failed="45015")
    fx = Effects()
    with session_scope(state.engine) as session:
        add_note(session, lock_ticket(session, ticket), world["a"], "老客户，注意语气", fx)
    run_effects(state, fx)
    # the same fan's earlier, resolved ticket
    with session_scope(state.engine) as session:
        old = Ticket(account_id=account, fan_id=fan, status="resolved", subject="上次的问题", csat_score=4)
        session.add(old)
        session.flush()
        old_id = old.id
    page = text_of(login(app, "a@x.cn").get(f"/tickets/{ticket}"))
    assert "我要投诉物流太慢" in page and first is not None
    assert "[图片]" in page and 'href="https://mmbiz.example/p.jpg"' in page and "MEDIA1" in page
    assert "javascript:alert" not in page  # only http(s) links are shown
    assert "[语音]" in page and "快递三天没动" in page
    assert "机器人 · 知识库" in page and "收到您的图片" in page
    assert "未送达" in page and "45015" in page and "48 小时" in page
    assert "内部备注 · Agent A" in page and "老客户，注意语气" in page
    assert "分配给 Agent A" in page  # the routing event, as a system line
    assert "不属于任何工单" in page  # the bot's answers are on no ticket
    # the fan beside it
    assert "fan o1" in page and "brand" in page and "o1" in page
    assert f'href="/tickets/{old_id}"' in page and "满意度 4/5" in page
    # the reply box and its tools
    assert 'id="reply-text"' in page and 'id="suggestions"' in page and 'id="canned-list"' in page
    assert f'data-suggestions="/api/v1/fans/{fan}/suggestions"' in page


def test_older_messages_come_in_pages(app: Any, state: Any, world: dict[str, Any]) -> None:
    for n in range(60):
        fan_writes(state, world["account"], world["fan"], "text", f"第{n}条")
    a = login(app, "a@x.cn")
    page = text_of(a.get(f"/tickets/{world['ticket']}"))
    assert "第59条" in page and "第19条" not in page and "第20条" in page
    before = int(re.search(r"/older\?before=(\d+)", page).group(1))
    older = text_of(a.get(f"/tickets/{world['ticket']}/older?before={before}"))
    assert "第19条" in older and "第20条" not in older and "我要投诉物流太慢" in older
    assert "这位粉丝的最早记录" in older and "/older?before=" not in older
    assert a.get(f"/tickets/{world['ticket']}/older").status_code == 400


def test_fan_text_is_escaped_everywhere(app: Any, state: Any, world: dict[str, Any]) -> None:
    message = fan_message(state, world["account"], "evil", XSS)
    with session_scope(state.engine) as session:
        session.get(Fan, message.fan_id).display_name = XSS
    ticket, _ = open_for(state, message, team_id=world["team"])
    escaped = html.escape(XSS, quote=False)
    a = login(app, "a@x.cn")
    pages = {
        "queue": text_of(a.get("/queue?tab=all")),
        "narrow list": text_of(a.get(f"/queue?tab=all&part=list&narrow=1&current={ticket}")),
        "conversation": text_of(a.get(f"/tickets/{ticket}?tab=all")),
        "live part": text_of(a.get(f"/tickets/{ticket}?part=live")),
    }
    for name, page in pages.items():
        assert "<script>alert(1)</script>" not in page and "<b>x</b>" not in page, name
        assert escaped in page, name
    subject = re.search(r'<span class="subject">([^<]*)</span>', pages["conversation"]).group(1)
    assert subject == escaped


# -- the reply box ---------------------------------------------------------------------------------------------


def _limits(page: str) -> str:
    return re.search(r'<div class="limits[^"]*" id="reply-limits">(.*?)</div>', page, re.S).group(1)


def test_the_reply_box_shows_the_window_and_the_quota(app: Any, state: Any, world: dict[str, Any]) -> None:
    a, ticket = login(app, "a@x.cn"), world["ticket"]
    page = text_of(a.get(f"/tickets/{ticket}"))
    assert "窗口剩余 47小时" in _limits(page) and "还可发送 5 条" in _limits(page)
    headers = {"X-CSRFToken": csrf_of(page), "Idempotency-Key": "draft-1"}
    for _ in range(2):  # a double click: one reply
        sent = a.post(f"/api/v1/tickets/{ticket}/replies", json={"text": "您好，正在查询"}, headers=headers)
        assert sent.status_code == 202
    other = a.post(f"/api/v1/tickets/{ticket}/replies", json={"text": "请稍等"},
                   headers={"X-CSRFToken": csrf_of(page), "Idempotency-Key": "draft-2"})
    assert other.status_code == 202
    assert a.post(f"/api/v1/tickets/{ticket}/replies", json={"text": "没有令牌"}).status_code == 400  # CSRF
    page = text_of(a.get(f"/tickets/{ticket}"))
    assert "还可发送 3 条" in _limits(page)
    assert page.count("您好，正在查询") == 1 and "请稍等" in page and "发送中" in page
    with session_scope(state.engine) as session:  # the fan last wrote 49 hours ago
        long_ago = utcnow() - timedelta(hours=49)
        session.execute(update(Ticket).where(col(Ticket.id) == ticket).values(last_fan_message_at=long_ago))
        session.execute(update(Message).where(col(Message.fan_id) == world["fan"], Message.direction == IN)
                        .values(sent_at=long_ago))
    page = text_of(a.get(f"/tickets/{ticket}"))
    assert "48 小时窗口已于" in _limits(page)
    assert re.search(r'data-send=""\s+disabled', page)
    refused = a.post(f"/api/v1/tickets/{ticket}/replies", json={"text": "还在吗"},
                     headers={"X-CSRFToken": csrf_of(page)})
    assert refused.status_code == 409 and "48-hour window" in refused.get_json()["error"]


def test_the_actions_shown_follow_the_permissions(app: Any, state: Any, world: dict[str, Any]) -> None:
    ticket, waiting = world["ticket"], world["waiting"]
    with session_scope(state.engine) as session:  # a second ticket of fan o1, to merge into
        session.add(Ticket(account_id=world["account"], fan_id=world["fan"], status="resolved", subject="旧"))

    def actions(client: Any, ticket_id: int) -> set[str]:
        page = text_of(client.get(f"/tickets/{ticket_id}"))
        head = page[page.index('id="ticket-actions"'):page.index('id="action-error"')]
        found = set(re.findall(r'data-act="(\w+)"(?: data-status="(\w+)")?', head))
        shown = {f"{act}:{status}" if status else act for act, status in found}
        box = page[page.index('id="reply-state"'):]
        if "data-send=" in box:
            shown.add("reply")
        if "data-note-send" in box:
            shown.add("note")
        return shown

    a, b, c, admin = (login(app, f"{who}@x.cn") for who in ("a", "b", "c", "admin"))
    assert actions(a, ticket) == {"status:waiting", "resolve", "transfer", "merge", "reply", "note"}
    assert actions(b, ticket) == set()  # a colleague's ticket: read only
    assert actions(c, ticket) == set()
    assert actions(b, waiting) == {"take", "resolve", "transfer", "reply", "note"}  # unassigned, in b's team
    assert actions(c, waiting) == set()  # another team's queue
    assert actions(admin, ticket) >= {"status:waiting", "resolve", "transfer", "merge", "reply", "note"}
    assert "take" not in actions(admin, ticket)  # an admin who is no agent cannot take tickets
    fx = Effects()
    with session_scope(state.engine) as session:
        set_status(session, state.config, lock_ticket(session, ticket), "resolved", world["a"], fx)
    run_effects(state, fx)
    assert actions(a, ticket) == {"status:open", "status:closed", "merge", "note"}


# -- live ------------------------------------------------------------------------------------------------------


def test_live_reports_a_new_message_and_an_assignment(app: Any, state: Any, worker: Any,
                                                       world: dict[str, Any]) -> None:
    a, b = login(app, "a@x.cn"), login(app, "b@x.cn")
    page = text_of(a.get(f"/tickets/{world['ticket']}"))
    seq = int(re.search(r'data-seq="(\d+)"', page).group(1))
    first = re.search(r'id="thread-recent" data-first="(\d+)"', page).group(1)
    nothing = a.get(f"/live?since={seq}&ticket={world['ticket']}").get_json()
    assert nothing == {"seq": seq, "reset": False, "queue": False, "ticket": False, "notifications": False,
                       "assigned": []}
    open_for(state, fan_message(state, world["account"], "o1", "还没有收到回复吗"))  # the fan writes again
    changed = a.get(f"/live?since={seq}&ticket={world['ticket']}").get_json()
    assert changed["ticket"] and changed["queue"] and changed["seq"] > seq
    assert a.get(f"/live?since={seq}&ticket={world['waiting']}").get_json()["ticket"] is False
    assert a.get(f"/live?since={seq}&mine=1&shown=").get_json()["queue"] is True  # a's own ticket changed
    parts = text_of(a.get(f"/tickets/{world['ticket']}?part=live&from={first}"))
    assert "还没有收到回复吗" in parts and 'id="ticket-head"' in parts and 'id="reply-state"' in parts
    assert "<html" not in parts
    # b comes online: the waiting ticket is routed to b, whose page learns it
    seq_b = int(re.search(r'data-seq="(\d+)"', text_of(b.get("/queue"))).group(1))
    fx = Effects()
    with session_scope(state.engine) as session:
        set_presence(session, world["b"], "online", fx)
    run_effects(state, fx)
    worker()
    update_b = b.get(f"/live?since={seq_b}&mine=1&shown=").get_json()
    assert world["waiting"] in update_b["assigned"] and update_b["queue"]
    # a, looking at their own tickets only, has nothing to refresh for it
    assert a.get(f"/live?since={seq_b}&mine=1&shown={world['ticket']}").get_json()["queue"] is False
    assert a.get(f"/live?since={seq_b}").get_json()["queue"] is True  # ...unlike a page showing every ticket
    assert world["waiting"] in row_ids(text_of(b.get("/queue?part=list")))
    # a notification for a
    seq = a.get(f"/live?since={changed['seq']}").get_json()["seq"]
    fx = Effects()
    with session_scope(state.engine) as session:
        notify(session, [world["a"]], session.get(Ticket, world["ticket"]), "window_warning", "窗口将在 2 小时后关闭",
               fx)
    run_effects(state, fx)
    note = a.get(f"/live?since={seq}").get_json()
    assert note["notifications"] and note["unread"] == 1 and not note["queue"]
    assert "窗口将在 2 小时后关闭" in text_of(a.get("/notifications"))
    # a sequence the hub never reached (Redis restarted): refresh everything
    assert a.get(f"/live?since={note['seq'] + 1000}").get_json()["reset"] is True


def test_a_replys_delivery_outcome_reaches_the_open_ticket(app: Any, state: Any, worker: Any,
                                                         world: dict[str, Any]) -> None:
    a = login(app, "a@x.cn")
    seq = int(re.search(r'data-seq="(\d+)"', text_of(a.get(f"/tickets/{world['ticket']}"))).group(1))
    fx = Effects()
    with session_scope(state.engine) as session:
        reply(session, state.config, lock_ticket(session, world["ticket"]), world["a"], "马上为您查询", fx=fx)
    run_effects(state, fx)
    worker()  # the send fails (the account's API is nowhere): the agent's page learns it without reloading
    changes = a.get(f"/live?since={seq}&ticket={world['ticket']}").get_json()
    assert changes["ticket"] is True
    from hub.core.live import changes_since

    deliveries = [u for u in changes_since(state, seq)[1] if u["type"] == "message.delivery"]
    assert deliveries and deliveries[-1]["ticket_id"] == world["ticket"]
    assert a.get(f"/live?since={seq}&ticket={world['waiting']}").get_json()["ticket"] is False


# -- the fan ---------------------------------------------------------------------------------------------------


def test_manual_tags_are_added_and_removed(app: Any, state: Any, world: dict[str, Any]) -> None:
    with session_scope(state.engine) as session:
        create_tag(session, "数码")
        create_tag(session, "美妆")
    a = login(app, "a@x.cn")
    page = text_of(a.get(f"/tickets/{world['ticket']}"))
    assert "<option>数码</option>" in page
    token = csrf_of(page)
    assert a.post(f"/fans/{world['fan']}/tags", data={"tag": "数码", "action": "add"}).status_code == 400  # CSRF
    part = a.post(f"/fans/{world['fan']}/tags", data={"tag": "数码", "action": "add", "csrf_token": token},
                  headers={"HX-Request": "true"})
    assert part.status_code == 200 and 'class="tag manual"' in text_of(part) and "<html" not in text_of(part)
    assert '<span class="tag-name">数码</span>' in text_of(a.get(f"/tickets/{world['ticket']}"))
    removed = a.post(f"/fans/{world['fan']}/tags", data={"tag": "数码", "action": "remove", "csrf_token": token},
                     headers={"HX-Request": "true", "X-CSRFToken": token})
    assert '<span class="tag-name">数码</span>' not in text_of(removed) and "手动移除" in text_of(removed)
    unknown = a.post(f"/fans/{world['fan']}/tags", data={"tag": "没有", "csrf_token": token},
                     headers={"HX-Request": "true"})
    assert unknown.status_code == 400 and "标签未修改" in unknown.get_data(as_text=True)
    plain = a.post(f"/fans/{world['fan']}/tags", data={"tag": "美妆", "csrf_token": token},
                   headers={"Referer": f"http://localhost/tickets/{world['ticket']}"})
    assert plain.status_code == 302 and plain.headers["Location"].endswith(f"/tickets/{world['ticket']}")


# -- language --------------------------------------------------------------------------------------------------


def test_chinese_by_default_and_english_when_chosen(app: Any, state: Any, world: dict[str, Any]) -> None:
    a = login(app, "a@x.cn")
    page = text_of(a.get("/queue?tab=all"))
    assert "未分配" in page and "我的" in page
    with session_scope(state.engine) as session:
        session.get(User, world["a"]).locale = "en"
    page = text_of(login(app, "a@x.cn").get("/queue?tab=all"))
    assert "Unassigned" in page and "Mine" in page and "未分配" not in page
