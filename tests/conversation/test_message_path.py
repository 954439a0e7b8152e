"""A fan's message end to end: emulated WeChat → webhook → storage → worker → reply, over real HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlmodel import Session, select

from bots.base import Reply
from hub.core.models import Identity
from hub.intake.journal import flush_all
from tests.support.wechat_setup import add_rule, messages, wire_account


@pytest.fixture
def brand(state: Any, live_hub: Any, sandbox: Any) -> Any:
    account = wire_account(state, live_hub.url, sandbox.url)
    add_rule(state, account.key, "keyword", "旗舰款 2999 元", pattern="价格", match="exact", priority=10)
    add_rule(state, account.key, "keyword", "门店在人民路 1 号", pattern="门店")
    add_rule(state, account.key, "keyword", "优惠券码 SPRING", pattern=r"^(活动|优惠券?)$", match="regex")
    add_rule(state, account.key, "welcome", "欢迎关注！")
    add_rule(state, account.key, "welcome", "欢迎参加春季活动！", pattern="spring")
    add_rule(state, account.key, "menu", "热线 400-000-0000", pattern="HOTLINE")
    return account


def test_keyword_rules_answer_passively_in_safe_mode(brand: Any, state: Any, worker: Any) -> None:
    assert brand.say("fan-1", text="价格")["reply_text"] == "旗舰款 2999 元"
    assert brand.say("fan-1", text="请问门店在哪")["reply_text"] == "门店在人民路 1 号"
    assert brand.say("fan-1", text="优惠券")["reply_text"] == "优惠券码 SPRING"
    assert brand.say("fan-1", text="你们几点下班")["reply_text"] is None  # no rule, no default: "success"
    worker()
    inbound = messages(state, "in")
    assert [m.status for m in inbound] == ["processed"] * 4
    assert [m.reply_state for m in inbound] == ["passive", "passive", "passive", "none"]
    assert len(messages(state, "out")) == 3
    assert brand.outbox() == []  # passive replies never go through the customer-service API


def test_subscribe_with_scene_menu_click_and_unsubscribe(brand: Any, state: Any, worker: Any) -> None:
    assert brand.say("fan-2", event="subscribe", key="qrscene_spring")["reply_text"] == "欢迎参加春季活动！"
    assert brand.say("fan-3", event="subscribe")["reply_text"] == "欢迎关注！"
    assert brand.say("fan-2", event="CLICK", key="HOTLINE")["reply_text"] == "热线 400-000-0000"
    brand.say("fan-2", event="unsubscribe")
    with Session(state.engine) as session:
        fan2 = session.exec(select(Identity).where(Identity.external_id == "fan-2")).one()
        assert fan2.referral_scene == "spring" and fan2.subscribed is False and fan2.unsubscribed_at
        fan3 = session.exec(select(Identity).where(Identity.external_id == "fan-3")).one()
        assert fan3.subscribed and fan3.referral_scene is None


def test_retried_delivery_is_stored_once_and_gets_the_same_reply(brand: Any, state: Any, worker: Any) -> None:
    from hub.sandbox.wechat import FanSimulator

    fan = FanSimulator(brand.webhook, brand.token, brand.app_id, brand.aes_key)
    first = fan.text("fan-4", "价格", msg_id=424242)
    again = fan.text("fan-4", "价格", msg_id=424242)
    assert first.reply_text == again.reply_text == "旗舰款 2999 元"
    worker()
    assert len(messages(state, "in")) == 1 and len(messages(state, "out")) == 1


def test_concurrent_duplicates_store_one_message(brand: Any, state: Any, worker: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import requests

    from hub.sandbox.wechat import FanSimulator

    fan = FanSimulator(brand.webhook, brand.token, brand.app_id, brand.aes_key)
    params, body = fan.build_signed_request("fan-5", "同时到达", msg_id=777)
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: requests.post(brand.webhook, params=params, data=body, timeout=10)
                                 .status_code, range(16)))
    assert statuses == [200] * 16
    worker()
    assert len(messages(state, "in")) == 1


def answer_too_late(state: Any, monkeypatch: Any, text: str, delay: float = 0.3, budget_ms: int = 50) -> None:
    """Install a bot that always answers `text`, but only after the webhook's budget has run out."""

    def slow_bot(message: Any, context: Any) -> Reply | None:
        time.sleep(delay)
        return Reply(text, "slow")

    from hub.conversation import pipeline

    bots = (*pipeline.STANDARD_BOTS[:pipeline.RULE_BOTS], slow_bot, *pipeline.STANDARD_BOTS[pipeline.RULE_BOTS:])
    monkeypatch.setattr(pipeline, "BOTS", bots)
    state.config = state.config.__class__(**{**state.config.__dict__, "reply_budget_ms": budget_ms})


def test_slow_bot_answers_through_the_customer_service_api(
    brand: Any, state: Any, worker: Any, monkeypatch: Any
) -> None:
    answer_too_late(state, monkeypatch, "稍等，答案来了", delay=0.5, budget_ms=100)
    result = brand.say("fan-6", text="慢问题")
    assert result["reply_text"] is None  # "success": the answer follows through the API
    worker()
    assert [m["text"]["content"] for m in brand.outbox("fan-6")] == ["稍等，答案来了"]
    out = messages(state, "out")
    assert len(out) == 1 and out[0].status == "sent" and out[0].via == "api"
    assert messages(state, "in")[0].reply_state == "async"


def test_a_process_busy_deciding_leaves_the_next_decision_to_the_worker(
    brand: Any, state: Any, worker: Any, monkeypatch: Any
) -> None:
    """Decisions within the budget, but one after another taking most of the process's time: queueing more
    would delay every request, so the next message is answered through the API instead."""
    from hub.intake import reply_load

    answer_too_late(state, monkeypatch, "答案", delay=0.3, budget_ms=2000)  # within this budget
    monkeypatch.setattr(reply_load, "MAX_SHARE", 0.2)
    assert brand.say("fan-9", text="问题一")["reply_text"] == "答案"  # passive: the process was idle
    started = time.monotonic()
    assert brand.say("fan-9", text="问题二")["reply_text"] is None  # ~0.3 decision-seconds in the last second
    assert time.monotonic() - started < 0.25  # not decided in the webhook at all
    worker()
    assert [m["text"]["content"] for m in brand.outbox("fan-9")] == ["答案"]
    assert [m.reply_state for m in messages(state, "in")] == ["passive", "async"]


def test_decision_load_decays_within_a_second() -> None:
    from hub.intake.reply_load import DecisionLoad

    load = DecisionLoad(max_share=0.5, tau=0.2)
    load.add(0.3)
    assert load.overloaded() and 0.2 < load.share() * 0.2 <= 0.3
    time.sleep(0.3)
    assert not load.overloaded()  # e^-1.5 of it is left


def test_messages_survive_a_redis_outage(brand: Any, state: Any, worker: Any, redis_server: Any) -> None:
    from hub.intake.jobs import sweep

    redis_server.stop()
    try:
        assert brand.say("fan-7", text="价格")["reply_text"] == "旗舰款 2999 元"  # still answered, from the DB
        assert brand.say("fan-7", text="没有规则的问题")["status"] == 200
    finally:
        redis_server.start()
    flush_all(state)  # the second message went to the intake journal; its loader stores it in a moment
    stored = messages(state, "in")
    assert [m.status for m in stored] == ["received", "received"]  # stored, never queued
    assert sweep()["inbound"] == 2
    worker()
    assert [m.status for m in messages(state, "in")] == ["processed", "processed"]
    assert len(messages(state, "out")) == 1  # the passive answer is not sent a second time


def test_a_killed_worker_leaves_nothing_behind(brand: Any, state: Any, worker: Any) -> None:
    from datetime import timedelta

    from hub.core.db import session_scope
    from hub.core.models import Message, utcnow
    from hub.intake.jobs import sweep

    brand.say("fan-8", text="没有规则的问题")
    flush_all(state)  # the message was journaled (hub.intake.journal) and is loaded within milliseconds
    state.queue.empty()  # the job died with its worker
    with session_scope(state.engine) as session:
        message = session.exec(select(Message)).one()
        message.status, message.processing_started_at = "processing", utcnow() - timedelta(hours=1)
        session.add(message)
    assert sweep()["inbound"] == 1
    worker()
    assert sweep()["inbound"] == 0
    assert [m.status for m in messages(state, "in")] == ["processed"]


def test_outside_the_48_hour_window_the_failure_is_recorded(
    brand: Any, state: Any, worker: Any, monkeypatch: Any
) -> None:
    answer_too_late(state, monkeypatch, "迟到的回答")
    brand.say("fan-9", text="问题")
    # The emulated WeChat moves 49 hours on before the worker sends: the window has closed.
    import requests

    requests.post(f"{brand.sandbox_url}/sandbox/clock", json={"advance": 49 * 3600}, timeout=5)
    worker()
    out = messages(state, "out")[0]
    assert out.status == "failed" and out.error_code == "45015"


def test_transient_send_errors_are_retried(brand: Any, state: Any, worker: Any, monkeypatch: Any) -> None:
    answer_too_late(state, monkeypatch, "重试后送达")
    brand.say("fan-10", text="问题")
    brand.fault("message/custom/send", count=2, errcode=-1)
    worker()
    out = messages(state, "out")[0]
    assert out.status == "sent" and out.attempts == 3
    assert [m["text"]["content"] for m in brand.outbox("fan-10")] == ["重试后送达"]


def test_a_failing_bot_never_keeps_a_message_from_being_stored(brand: Any, state: Any, worker: Any) -> None:
    import hub.conversation.pipeline

    def broken_rules(*_args: Any) -> None:
        raise RuntimeError("a bug in a rule bot")

    original = hub.conversation.pipeline.decide_by_rules
    import hub.intake.webhooks

    hub.intake.webhooks.decide_by_rules = broken_rules  # the webhook's view of the rule stage
    try:
        result = brand.say("fan-11", text="价格")
    finally:
        hub.intake.webhooks.decide_by_rules = original
    assert result["status"] == 200 and result["reply_text"] is None  # "success": the worker answers
    worker()
    assert [m.status for m in messages(state, "in")] == ["processed"]
    assert [m["text"]["content"] for m in brand.outbox("fan-11")] == ["旗舰款 2999 元"]


def test_a_message_that_keeps_failing_ends_as_failed(brand: Any, state: Any, worker: Any, monkeypatch: Any) -> None:
    from datetime import timedelta

    from hub.conversation.jobs import MAX_PROCESS_ATTEMPTS
    from hub.core.db import session_scope
    from hub.core.models import Message, utcnow
    from hub.intake.jobs import sweep

    def poison(session: Any, message: Any, inbound: Any) -> None:
        raise RuntimeError("cannot process this one")

    monkeypatch.setattr("hub.conversation.jobs.tag_message", poison)
    brand.say("fan-12", text="你好")
    for _ in range(MAX_PROCESS_ATTEMPTS):
        worker()  # the job fails; the message stays "processing" with one more attempt
        with session_scope(state.engine) as session:  # as if the stale time had passed
            message = session.exec(select(Message).where(Message.direction == "in")).one()
            message.processing_started_at = utcnow() - timedelta(hours=1)
            session.add(message)
        sweep()
    stored = messages(state, "in")[0]
    assert stored.status == "failed" and stored.attempts == MAX_PROCESS_ATTEMPTS
    assert sweep()["inbound"] == 0
