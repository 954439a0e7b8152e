"""The agent console in a real browser (issue 20): Playwright driving Debian's chromium.

The long test runs the hub as users run it — `hub sandbox wechat`, `hub serve` (two gunicorn processes, which share
nothing but Redis and the database) and `hub worker` as child processes on a fresh instance, set up with `hub`
commands — and follows one hand-off from the fan's WeChat to the agents and back: the fan asks for a person, the
ticket appears in agent A's queue without a reload, A takes it, inserts a knowledge-base suggestion, edits and sends
it (it reaches the fan in the WeChat emulation), adds a note (which never does), and transfers the ticket to agent
B, in whose open console it appears without a reload; B resolves it and the satisfaction survey reaches the fan.

The cheaper tests use the in-process `live_hub`: an agent gets 403 on an admin page, and fan text with `<script>`
renders as text in the conversation (no dialog ever opens). Covered elsewhere, not repeated here: every console
route without a session leads to /login and every API route answers 401, roles on every route, CSRF on every form
and write — tests/web/test_console_security.py (the Flask test client over every route of the app).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from hub.core.db import session_scope
from hub.core.models import Fan
from hub.tickets.csat import SURVEY_TEXT
from tests.support.hub_processes import HubProcesses
from tests.support.servers import RedisServer
from tests.support.tickets_setup import fan_message, make_account, make_agent, make_team, open_for

PASSWORD = "password123"  # tests.support.tickets_setup.make_agent's
A, B = "wang@brand.test", "li@brand.test"
LIVE_S = 10  # how long a live change may take to show (the console polls every second; 2 shared cores)
KB = [  # the knowledge base `hub kb import` reads (JSONL: id, question, similar, answer, category)
    {"id": "return-policy", "question": "怎么退货", "similar": ["退货流程是什么", "买的东西想退", "可以退货吗"],
     "answer": "签收后 7 天内可无理由退货：在“我的订单”中点“申请退货”，按提示寄回即可。", "category": "售后"},
    {"id": "refund-time", "question": "退款多久到账", "similar": ["退款什么时候到", "退款要几天"],
     "answer": "退货签收后 1–3 个工作日内原路退款。", "category": "售后"},
    {"id": "shipping-time", "question": "多久发货", "similar": ["什么时候发货", "怎么还没发货"],
     "answer": "现货订单 48 小时内发货，预售商品以商品页写明的时间为准。", "category": "物流"},
]
EDIT = "运费由我们承担，有问题随时找我。"
NOTE = "已核对订单，符合七天无理由退货。"


@pytest.fixture(autouse=True)
def patient_expect() -> Iterator[None]:
    """Playwright's assertions wait up to LIVE_S (5 s by default) for what they expect: 2 shared cores."""
    from playwright.sync_api import expect

    expect.set_options(timeout=LIVE_S * 1000)
    yield
    expect.set_options(timeout=5_000)


class People:
    """Browser contexts (each with its own cookies) signed in as someone; the page errors they saw."""

    def __init__(self, browser: Any) -> None:
        self.browser = browser
        self.contexts: list[Any] = []
        self.errors: list[str] = []

    def sign_in(self, base_url: str, email: str) -> Any:
        """A page signed in as `email`, on the user's home page."""
        context = self.browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"{email}: {exc}"))
        page.goto(f"{base_url}/login")
        page.fill("#email", email)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#agent-page")
        return page


@pytest.fixture
def people(browser: Any) -> Iterator[People]:
    signed_in = People(browser)
    yield signed_in
    for context in signed_in.contexts:
        context.close()


def same_document(page: Any) -> bool:
    """Whether the page is still the one `mark` marked: nothing reloaded it."""
    return page.evaluate("window.__notReloaded === true")


def mark(page: Any) -> None:
    page.evaluate("window.__notReloaded = true")


def texts_sent(account: Any, openid: str) -> list[str]:
    return [(m.get("text") or {}).get("content") or "" for m in account.outbox(openid)]


@pytest.fixture
def hub(tmp_path: Path, own_redis: RedisServer) -> Iterator[HubProcesses]:
    processes = HubProcesses(tmp_path, own_redis.url)
    yield processes
    processes.close()


@pytest.mark.slow
def test_a_hand_off_from_wechat_to_two_agents_and_back(hub: HubProcesses, people: People, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    began = time.monotonic()
    hub.hub("db", "upgrade")
    brand = hub.add_wechat_account(name="品牌服务号")
    kb = tmp_path / "kb.jsonl"
    kb.write_text("".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in KB), encoding="utf-8")
    # Before the processes start, which load the index then (a process that has none yet loads one it is told
    # about in the background at its first use: that first message or suggestion would go without it).
    assert "3 created" in hub.hub("kb", "import", str(kb))
    hub.start()  # while it starts, the rest of the setup
    hub.hub("teams", "add", "售后", "--skills", "human,complaint")
    hub.hub("agents", "add", A, "--team", "售后", "--password", PASSWORD, "--name", "小王")
    hub.hub("agents", "add", B, "--team", "售后", "--password", PASSWORD, "--name", "小李")
    hub.hub("agents", "status", A, "away")  # nobody online: the hand-off waits in the queue for A to take it
    hub.wait_ready()
    hub.register(brand)
    print(f"set up and started in {time.monotonic() - began:.1f} s")

    # A signs in and watches the unassigned queue.
    a = people.sign_in(hub.url, A)
    assert a.url == f"{hub.url}/queue"
    a.click("#queue-list .tabs a[data-tab=unassigned]")
    a.wait_for_url("**/queue?*tab=unassigned*")
    expect(a.locator("#ticket-rows .trow")).to_have_count(0)
    assert a.locator("#presence").input_value() == "away"
    mark(a)

    # The fan asks; the knowledge base answers; the fan asks for a person.
    answered = brand.say("fan-1", text="怎么退货")
    assert answered["status"] == 200
    if answered["reply_text"] is None:  # not within the webhook's budget: the worker answers through the API
        hub.wait(lambda: texts_sent(brand, "fan-1"), LIVE_S, "the FAQ answer")
    said = time.monotonic()
    assert brand.say("fan-1", text="转人工")["status"] == 200
    row = a.locator("#ticket-rows .trow[data-id]")
    expect(row).to_have_count(1)
    print(f"the hand-off showed in A's queue {time.monotonic() - said:.1f} s after the fan's message")
    assert same_document(a)
    ticket = int(row.get_attribute("data-id"))
    expect(row).to_contain_text("转人工")
    expect(row).to_contain_text("待分配")  # open: waiting for an agent

    # A opens it and takes it.
    row.locator("a").first.click()
    a.wait_for_url(f"**/tickets/{ticket}?*")
    thread = a.locator("#thread-recent")
    expect(thread.locator(".msg.by-fan")).to_have_count(2)
    expect(thread.locator(".msg.by-bot").first).to_contain_text("签收后 7 天内可无理由退货")  # the FAQ answer
    a.click("#ticket-actions [data-act=take]")
    expect(a.locator("#ticket-head")).to_contain_text("处理人: 小王")
    expect(a.locator("#ticket-actions [data-act=take]")).to_have_count(0)
    expect(a.locator("#ticket-head")).to_have_attribute("data-status", "assigned")

    # A inserts the knowledge base's suggestion, edits it and sends it; it reaches the fan.
    a.click("#suggestions-box summary")
    suggestion = a.locator("#suggestions button[data-answer]").first
    expect(suggestion).to_contain_text("怎么退货")
    answer = suggestion.get_attribute("data-answer")
    assert answer == KB[0]["answer"]
    suggestion.click()
    box = a.locator("#reply-text")
    expect(box).to_have_value(answer)
    box.press("End")
    box.press_sequentially(EDIT)
    reply = answer + EDIT
    expect(box).to_have_value(reply)
    a.click('[data-send=""]')
    mine = thread.locator(".msg.by-agent")
    expect(mine).to_have_count(1)
    expect(mine.locator(".text")).to_have_text(reply)
    expect(box).to_have_value("")
    assert "error" not in (a.locator("#reply-error").get_attribute("class") or "").split()
    hub.wait(lambda: reply in texts_sent(brand, "fan-1"), LIVE_S, "A's reply at the fan's WeChat")
    expect(mine.locator(".delivery")).to_contain_text("已送达微信")

    # A new message of the fan shows in the open conversation by itself.
    mark(a)
    assert brand.say("fan-1", text="好的，运单号稍后发你")["status"] == 200
    expect(thread.locator(".msg.by-fan .text").last).to_have_text("好的，运单号稍后发你")
    assert same_document(a)

    # A note: in the thread, never at the fan's.
    a.click(".reply-tabs [data-mode=note]")
    box.fill(NOTE)
    a.click("[data-note-send]")
    expect(thread.locator(".note-item")).to_contain_text(NOTE)

    # B comes online and signs in; A transfers the ticket to B, whose queue shows it without a reload.
    hub.hub("agents", "status", B, "online")
    b = people.sign_in(hub.url, B)
    expect(b.locator("#ticket-rows .trow[data-id]")).to_have_count(0)
    mark(b)
    a.click("#transfer-menu summary")
    a.select_option("#transfer-menu select[name=agent]", B)
    a.click("#transfer-menu button[type=submit]")
    handed = time.monotonic()
    expect(a.locator("#ticket-head")).to_contain_text("处理人: 小李")
    expect(b.locator(f'#ticket-rows .trow[data-id="{ticket}"]')).to_have_count(1)
    print(f"the transfer showed in B's queue {time.monotonic() - handed:.1f} s after A's click")
    assert same_document(b)
    expect(b.locator(".toast")).to_contain_text(f"#{ticket}")

    # B opens it (with A's reply and note) and resolves it; the survey reaches the fan.
    b.locator(f'#ticket-rows .trow[data-id="{ticket}"] a').first.click()
    b.wait_for_url(f"**/tickets/{ticket}*")
    expect(b.locator("#thread-recent .note-item")).to_contain_text(NOTE)
    expect(b.locator("#thread-recent .msg.by-agent .text")).to_have_text(reply)
    b.once("dialog", lambda dialog: dialog.accept())  # "Resolve this ticket? The fan will be asked to rate..."
    b.click("#ticket-actions [data-act=resolve]")
    expect(b.locator("#ticket-head")).to_have_attribute("data-status", "resolved")
    hub.wait(lambda: SURVEY_TEXT in texts_sent(brand, "fan-1"), LIVE_S, "the survey at the fan's WeChat")
    expect(b.locator("#thread-recent .msg.by-csat")).to_have_count(1)
    assert not [text for text in texts_sent(brand, "fan-1") if NOTE in text]
    assert json.loads(hub.hub("tickets", "list", "--status", "resolved", "--json"))[0]["assignee"] == B
    assert people.errors == []
    print(f"the whole walk took {time.monotonic() - began:.1f} s")


# -- cheaper: the in-process hub ------------------------------------------------------------------------------

XSS_TEXT = "<script>alert(1)</script><b>粗体</b>"
XSS_NAME = "<img src=x onerror=alert(2)>"
XSS_NOTE = "<svg onload=alert(3)>"


@pytest.fixture
def an_agent(state: Any) -> tuple[int, int]:
    """An online agent of 售后 (password PASSWORD) and their account."""
    account = make_account(state)
    make_team(state, "售后", ("complaint",))
    agent = make_agent(state, "agent@x.test", ("售后",))
    return account, agent


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_agent_gets_403_on_admin_pages(live_hub: Any, an_agent: tuple[int, int], people: People) -> None:
    page = people.sign_in(live_hub.url, "agent@x.test")
    for path in ("/admin/users", "/admin/teams"):
        response = page.goto(f"{live_hub.url}{path}")
        assert response.status == 403, path
        assert "/login" not in page.url
    assert people.errors == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_fan_html_renders_as_text_and_runs_nothing(live_hub: Any, state: Any, worker: Any, an_agent: tuple[int, int],
                                                   people: People) -> None:
    from playwright.sync_api import expect

    account, _ = an_agent
    first = fan_message(state, account, "o-x", XSS_TEXT)
    with session_scope(state.engine) as session:
        fan = session.exec(select(Fan).where(Fan.id == first.fan_id)).one()
        fan.display_name = XSS_NAME
    ticket, _ = open_for(state, first, intent="complaint", priority=3)
    worker()  # routed to the agent
    page = people.sign_in(live_hub.url, "agent@x.test")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    row = page.locator(f'#ticket-rows .trow[data-id="{ticket}"]')
    expect(row.locator(".c-fan")).to_have_text(XSS_NAME)
    expect(row.locator(".subject")).to_have_text(XSS_TEXT)  # the preview would repeat it
    page.goto(f"{live_hub.url}/tickets/{ticket}")
    thread = page.locator("#thread-recent")
    expect(thread.locator(".msg.by-fan .text")).to_have_text(XSS_TEXT)
    expect(page.locator("#fan-pane h2")).to_have_text(XSS_NAME)
    # What arrives live is server-rendered and escaped the same way.
    again = fan_message(state, account, "o-x", XSS_TEXT + "（又一条）")
    open_for(state, again)
    expect(thread.locator(".msg.by-fan .text").last).to_have_text(XSS_TEXT + "（又一条）")
    page.click(".reply-tabs [data-mode=note]")
    page.fill("#reply-text", XSS_NOTE)
    page.click("[data-note-send]")
    expect(thread.locator(".note-item .bubble")).to_have_text(XSS_NOTE)
    assert page.locator("#agent-page script, #agent-page img, #agent-page svg, #thread b").count() == 0
    page.wait_for_timeout(500)  # an event handler that would fire on load has had its chance
    assert dialogs == []
    assert people.errors == []
