"""The WeCom channel in the hub, over real HTTP: `hub account add wecom`, the callback mounted at
/webhooks/wecom/<key>, a member's message through storage and the bots to a reply (passive or through the
emulated message API), dedupe under retries, and bad input refused with nothing stored. SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import logging
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from click.testing import CliRunner
from sqlmodel import Session, func, select

from bots.base import Reply
from hub.cli import cli
from hub.core.models import Account, Fan, Identity, Message
from hub.intake.journal import flush_all
from hub.sandbox.wecom import MemberSimulator
from tests.channels.test_wecom_outbound import SandboxServer
from tests.support.wechat_setup import add_rule, messages


@dataclass
class WiredApp:
    key: str
    token: str
    aes_key: str
    corp_id: str
    agent_id: int
    secret: str
    api: SandboxServer
    hub_url: str

    @property
    def webhook(self) -> str:
        return f"{self.hub_url}/webhooks/wecom/{self.key}"

    def say(self, userid: str, **body: Any) -> dict[str, Any]:
        """The member writes in WeCom; the emulation encrypts, signs and delivers it to the hub."""
        response = requests.post(f"{self.api.url}/sandbox/members/{userid}/say",
                                 json={"corpid": self.corp_id, "agentid": self.agent_id, **body}, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def outbox(self, userid: str) -> list[str]:
        items = requests.get(f"{self.api.url}/sandbox/outbox", params={"touser": userid}, timeout=5).json()
        return [m["text"]["content"] for m in items]

    def member(self) -> MemberSimulator:
        return MemberSimulator(self.webhook, self.token, self.aes_key, self.corp_id, self.agent_id)


def hub_cli(hub_config: dict[str, Any], *args: str) -> Any:
    env = {f"HUB_{k.upper()}": str(v) for k, v in hub_config.items()}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def wecom_api() -> Iterator[SandboxServer]:
    server = SandboxServer()
    yield server
    server.close()


def wire(hub_config: dict[str, Any], hub_url: str, wecom_api: SandboxServer, key: str = "corp",
         agent_id: int = 1000002) -> WiredApp:
    """A WeCom app added with `hub account add wecom` and registered with the emulation."""
    app = WiredApp(key, secrets.token_hex(8), base64.b64encode(secrets.token_bytes(32)).decode()[:43],
                   f"ww{secrets.token_hex(8)}", agent_id, secrets.token_hex(16), wecom_api, hub_url)
    added = hub_cli(hub_config, "account", "add", "wecom", "--key", app.key, "--token", app.token, "--aes-key",
                    app.aes_key, "--corp-id", app.corp_id, "--agent-id", str(app.agent_id), "--secret", app.secret,
                    "--api-base", wecom_api.url)
    assert added.exit_code == 0, added.output
    response = requests.post(f"{wecom_api.url}/sandbox/apps", json={
        "corpid": app.corp_id, "secret": app.secret, "agentid": app.agent_id, "token": app.token,
        "aes_key": app.aes_key, "webhook_url": app.webhook}, timeout=5)
    assert response.status_code == 201
    return app


@pytest.fixture
def corp(state: Any, hub_config: dict[str, Any], live_hub: Any, wecom_api: SandboxServer) -> WiredApp:
    return wire(hub_config, live_hub.url, wecom_api)


def counts(state: Any) -> tuple[int, int, int]:
    flush_all(state)
    with Session(state.engine) as session:
        return tuple(session.exec(select(func.count()).select_from(t)).one() for t in (Message, Fan, Identity))


def test_account_add_wecom_stores_the_app(state: Any, hub_config: dict[str, Any]) -> None:
    result = hub_cli(hub_config, "account", "add", "wecom", "--key", "hr", "--token", "QDG6eK", "--aes-key",
                     "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "--corp-id", "wx5823bf96d3bd56c7",
                     "--agent-id", "218", "--secret", "app-secret")
    assert result.exit_code == 0 and "/webhooks/wecom/hr" in result.output
    with Session(state.engine) as session:
        row = session.exec(select(Account).where(Account.key == "hr")).one()
    assert (row.channel, row.token, row.app_id, row.app_secret, row.settings) == (
        "wecom", "QDG6eK", "wx5823bf96d3bd56c7", "app-secret", {"agent_id": "218"})
    bad = hub_cli(hub_config, "account", "add", "wecom", "--key", "hr2", "--token", "t", "--aes-key", "a" * 43,
                  "--corp-id", "c", "--agent-id", "abc", "--secret", "s")
    assert bad.exit_code != 0 and "--agent-id" in bad.output
    missing = hub_cli(hub_config, "account", "add", "wecom", "--key", "hr3", "--token", "t")
    assert missing.exit_code != 0 and "--corp-id" in missing.output


def test_url_verification_through_the_hub(corp: WiredApp) -> None:
    status, body, plain = corp.member().verify_url()
    assert (status, body) == (200, plain)


def test_keyword_rules_answer_passively_and_encrypted(corp: WiredApp, state: Any, worker: Any) -> None:
    add_rule(state, corp.key, "keyword", "旗舰款 2999 元", pattern="价格", match="exact", priority=10)
    add_rule(state, corp.key, "menu", "热线 400-000-0000", pattern="HOTLINE")
    result = corp.say("zhangsan", text="价格")
    assert result["ok"] and result["reply_text"] == "旗舰款 2999 元"
    assert corp.say("zhangsan", event="click", key="HOTLINE")["reply_text"] == "热线 400-000-0000"
    assert corp.say("zhangsan", event="enter_agent")["reply_text"] is None
    worker()
    inbound = messages(state, "in")
    assert [(m.kind, m.event) for m in inbound] == [("text", None), ("event", "click"), ("event", "enter_agent")]
    assert [m.reply_state for m in inbound] == ["passive", "passive", "none"]
    assert corp.outbox("zhangsan") == []  # passive replies never go through the message API
    with Session(state.engine) as session:
        (identity,) = session.exec(select(Identity)).all()
    assert identity.external_id == "zhangsan"


def test_a_members_text_reaches_the_bot_and_the_answer_reaches_the_outbox(
    corp: WiredApp, state: Any, worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub.conversation import pipeline

    def slow_bot(message: Any, context: Any) -> Reply | None:
        time.sleep(0.3)  # longer than the webhook's budget: the worker answers through the API
        return Reply(f"收到：{message.text}", "slow")

    bots = (*pipeline.STANDARD_BOTS[:pipeline.RULE_BOTS], slow_bot, *pipeline.STANDARD_BOTS[pipeline.RULE_BOTS:])
    monkeypatch.setattr(pipeline, "BOTS", bots)
    state.config = state.config.__class__(**{**state.config.__dict__, "reply_budget_ms": 50})
    result = corp.say("lisi", text="我的报销什么时候到账")
    assert result["ok"] and result["reply_text"] is None and result["raw"] == ""
    worker()
    assert corp.outbox("lisi") == ["收到：我的报销什么时候到账"]
    out = messages(state, "out")
    assert [(m.status, m.via) for m in out] == [("sent", "api")]
    assert messages(state, "in")[0].reply_state == "async"


def test_retried_deliveries_are_stored_once(corp: WiredApp, state: Any, worker: Any) -> None:
    add_rule(state, corp.key, "keyword", "旗舰款 2999 元", pattern="价格", match="exact")
    member = corp.member()
    first = member.text("wangwu", "价格", msg_id=424242)
    again = member.text("wangwu", "价格", msg_id=424242)  # WeCom's retry: new timestamp and nonce
    assert first.reply_text == again.reply_text == "旗舰款 2999 元"
    clicked = [member.event("wangwu", "enter_agent", create_time=1_800_000_000) for _ in range(3)]
    assert all(r.ok for r in clicked)
    worker()
    assert len(messages(state, "in")) == 2 and len(messages(state, "out")) == 1


def test_bad_input_is_refused_and_nothing_is_stored(
    corp: WiredApp, state: Any, caplog: pytest.LogCaptureFixture
) -> None:
    member = corp.member()
    xml = member.message_xml("mallory", "text", {"Content": "x", "MsgId": 1})
    query, body = member.envelope(xml)
    post = lambda q, b, key=corp.key: requests.post(  # noqa: E731
        f"{corp.hub_url}/webhooks/wecom/{key}?{urlencode(q)}", data=b, timeout=10)
    stale_query, stale_body = member.envelope(xml, timestamp=int(time.time()) - 3600)
    other = MemberSimulator(corp.webhook, corp.token, corp.aes_key, "wwsomeoneelse", corp.agent_id)
    garbage_query, garbage_body = member.envelope("<xml><FromUserName>")
    cases = [
        (post(query | {"msg_signature": "0" * 40}, body), 403),
        (post(stale_query, stale_body), 403),
        (other.text("mallory", "x"), 403),
        (post(garbage_query, garbage_body), 400),
        (post(query, b"<xml>" + b"x" * (70 * 1024) + b"</xml>"), 413),
        (post(query, body, key="nope"), 404),
        (post(query, b"not xml at all"), 400),
    ]
    assert [getattr(r, "status_code", None) or r.status for r, _ in cases] == [status for _, status in cases]
    assert counts(state) == (0, 0, 0)
    rejected = [r for r in caplog.records if r.name == "channels.wecom" and r.levelno == logging.WARNING]
    assert len(rejected) == len(cases)
    assert all(corp.aes_key not in r.getMessage() and corp.secret not in r.getMessage() for r in rejected)


def test_concurrent_copies_of_a_message_store_one(corp: WiredApp, state: Any, worker: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    member = corp.member()
    query, body = member.envelope(member.message_xml("zhaoliu", "text", {"Content": "同时到达", "MsgId": 777}))
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: requests.post(corp.webhook, params=query, data=body, timeout=10)
                                 .status_code, range(16)))
    assert statuses == [200] * 16
    worker()
    assert len(messages(state, "in")) == 1


def test_several_wecom_apps_each_with_their_credentials_and_rules(
    corp: WiredApp, state: Any, hub_config: dict[str, Any], live_hub: Any, wecom_api: SandboxServer, worker: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sales = wire(hub_config, live_hub.url, wecom_api, key="sales", agent_id=1000003)
    add_rule(state, corp.key, "keyword", "人事部：请找 HR", pattern="请假")
    add_rule(state, sales.key, "keyword", "销售部：请找主管", pattern="请假")
    assert corp.say("zhangsan", text="我想请假")["reply_text"] == "人事部：请找 HR"
    assert sales.say("zhangsan", text="我想请假")["reply_text"] == "销售部：请找主管"
    # a message encrypted and signed for one app is refused at the other's URL
    forwarded = MemberSimulator(sales.webhook, corp.token, corp.aes_key, corp.corp_id, corp.agent_id)
    assert forwarded.text("zhangsan", "请假").status == 403
    with Session(state.engine) as session:
        identities = session.exec(select(Identity.account_id, Identity.external_id)).all()
    assert len(identities) == 2 and {e for _, e in identities} == {"zhangsan"}  # one identity per app

    # answers through the message API go out with each app's own token and AgentId
    from hub.conversation import pipeline

    def slow_bot(message: Any, context: Any) -> Reply | None:
        time.sleep(0.3)
        return Reply(f"{message.account}：稍后答复", "slow")

    bots = (*pipeline.STANDARD_BOTS[:pipeline.RULE_BOTS], slow_bot, *pipeline.STANDARD_BOTS[pipeline.RULE_BOTS:])
    monkeypatch.setattr(pipeline, "BOTS", bots)
    state.config = state.config.__class__(**{**state.config.__dict__, "reply_budget_ms": 50})
    corp.say("lisi", text="别的问题")
    sales.say("lisi", text="别的问题")
    worker()
    sent = requests.get(f"{wecom_api.url}/sandbox/outbox", params={"touser": "lisi"}, timeout=5).json()
    assert sorted((m["corpid"], m["agentid"], m["text"]["content"]) for m in sent) == sorted([
        (corp.corp_id, corp.agent_id, "corp：稍后答复"), (sales.corp_id, sales.agent_id, "sales：稍后答复")])
    assert requests.get(f"{wecom_api.url}/sandbox/stats", timeout=5).json()["token_fetches"] == 2


def test_the_demo_wecom_app_answers_its_members(state: Any, live_hub: Any) -> None:
    from hub.demo.wecom import WECOM_AGENT_ID, WECOM_CORP_ID, start_wecom_demo

    server, url = start_wecom_demo(state, live_hub.port, 0)
    try:
        said = requests.post(f"{url}/sandbox/members/zhangsan/say", timeout=30,
                             json={"corpid": WECOM_CORP_ID, "agentid": WECOM_AGENT_ID, "text": "价格"}).json()
        assert said["ok"] and said["reply_text"].startswith("旗舰款 2999 元")
    finally:
        server.shutdown()
    server, _ = start_wecom_demo(state, live_hub.port, 0)  # a second start keeps the app, its rules and keys
    server.shutdown()
    with Session(state.engine) as session:
        assert session.exec(select(func.count()).select_from(Account)).one() == 1
