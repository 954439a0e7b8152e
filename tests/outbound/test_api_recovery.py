"""After an outage of the WeChat API (errcode -1), the replies waiting for their retry's back-off go out as soon
as a send succeeds again, not after their back-off (5, 30, 120, 600 s); nothing is promoted while the API
still fails; permanent failures (48-hour window, quota) are never retried. Real redis-server, RQ's scheduler
(in burst mode), the WeChat emulation with fault injection."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest
from rq.registry import ScheduledJobRegistry
from sqlmodel import Session, select

import hub.outbound.jobs as send_jobs
from hub.core.db import session_scope
from hub.core.models import IN, Message
from hub.core.queue import job_id_for
from hub.core.workers import HubSimpleWorker
from hub.intake.jobs import sweep
from hub.intake.journal import flush_all
from hub.outbound.jobs import FAILING_KEY, RECOVERED_KEY, enqueue_send, send_message
from hub.outbound.record import record_outbound
from tests.support.wechat_setup import add_rule, wire_account

SEND = "message/custom/send"


@pytest.fixture
def brand(state: Any, live_hub: Any, sandbox: Any) -> Any:
    account = wire_account(state, live_hub.url, sandbox.url)
    add_rule(state, account.key, "keyword", "旗舰款 2999 元", pattern="价格", match="exact")
    state.config = replace(state.config, send_retry_seconds="600,600,600,600")  # long back-offs: only a promotion
    return account                                                                # makes a retry due soon


def queue_reply(state: Any, brand: Any, openid: str, text: str) -> int:
    """An agent's reply to the fan's last message (the fan writes first: the window opens), enqueued."""
    assert brand.say(openid, text="价格")["reply_text"] == "旗舰款 2999 元"
    flush_all(state)
    with session_scope(state.engine) as session:
        inbound = session.exec(select(Message).where(Message.direction == IN).order_by(Message.id.desc())).first()
        out_id = record_outbound(session, inbound, inbound.id, text, source="agent:1", via="api",
                                 dedupe_key=f"test:{openid}:{text}")
    assert enqueue_send(out_id)
    return out_id


def work(state: Any) -> None:
    """The queue worked until empty, after RQ's scheduler moved what is due (as `hub worker` does every second)."""
    HubSimpleWorker([state.queue], connection=state.queue.connection).work(burst=True, with_scheduler=True)


def status(state: Any, message_id: int) -> str:
    with Session(state.engine) as session:
        return session.get(Message, message_id).status


def scheduled_in(state: Any, message_id: int) -> float | None:
    """Seconds until the reply's retry is due, or None when it is not waiting in the scheduled registry."""
    due = state.queue.connection.zscore(ScheduledJobRegistry(queue=state.queue).key,
                                        job_id_for(send_message, message_id))
    return None if due is None else due - time.time()


def delivered(brand: Any, openid: str) -> list[str]:
    return [m["text"]["content"] for m in brand.outbox(openid)]


def test_replies_waiting_for_a_retry_go_out_once_a_send_succeeds_again(brand: Any, state: Any) -> None:
    brand.fault(SEND, count=3, errcode=-1)
    waiting = [queue_reply(state, brand, f"fan-{n}", f"回复 {n}") for n in range(3)]
    work(state)
    for message_id in waiting:
        assert status(state, message_id) == "queued"
        assert scheduled_in(state, message_id) > 500  # its first retry in 600 s
    redis = state.queue.connection
    assert redis.hexists(FAILING_KEY, str(brand_account_id(state)))
    assert sweep(quick=True)["promoted"] == 0  # the API failed a moment ago: nothing is promoted

    fresh = queue_reply(state, brand, "fan-new", "新的回复")  # the API works again: this send succeeds...
    work(state)  # ... and makes the waiting retries due now; the scheduler takes them on the next pass
    work(state)
    assert status(state, fresh) == "sent"
    for n, message_id in enumerate(waiting):
        assert status(state, message_id) == "sent"
        assert delivered(brand, f"fan-{n}") == [f"回复 {n}"]  # once each
    assert delivered(brand, "fan-new") == ["新的回复"]
    assert not redis.hexists(FAILING_KEY, str(brand_account_id(state)))
    sweep(quick=True)  # nothing left to promote: the account's recovery is over
    assert not redis.hexists(RECOVERED_KEY, str(brand_account_id(state)))


def test_promotion_is_bounded_per_pass(brand: Any, state: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(send_jobs, "PROMOTE_PER_PASS", 2)
    brand.fault(SEND, count=5, errcode=-1)
    waiting = [queue_reply(state, brand, f"fan-{n}", f"回复 {n}") for n in range(5)]
    work(state)
    queue_reply(state, brand, "fan-new", "新的回复")
    HubSimpleWorker([state.queue], connection=state.queue.connection).work(burst=True)  # no scheduler pass yet
    assert sorted(scheduled_in(state, m) < 1 for m in waiting) == [False, False, False, True, True]
    assert sweep(quick=True)["promoted"] == 2  # the sweeper's next pass: two more
    assert sweep(quick=True)["promoted"] == 1
    assert sweep(quick=True)["promoted"] == 0
    work(state)
    assert [status(state, m) for m in waiting] == ["sent"] * 5
    assert all(len(delivered(brand, f"fan-{n}")) == 1 for n in range(5))


def test_without_new_replies_one_waiting_reply_probes_the_api(brand: Any, state: Any) -> None:
    brand.fault(SEND, count=2, errcode=-1)
    waiting = [queue_reply(state, brand, f"fan-{n}", f"回复 {n}") for n in range(2)]
    work(state)
    account_id = str(brand_account_id(state))
    redis = state.queue.connection
    assert sweep(quick=True)["promoted"] == 0  # failed a moment ago: no probe yet
    redis.hset(FAILING_KEY, account_id, str(time.time() - send_jobs.PROBE_SECONDS - 1))  # ... idle since
    assert sweep(quick=True)["promoted"] == 1  # one reply tries the API
    assert sweep(quick=True)["promoted"] == 0  # and only one: the next probe PROBE_SECONDS later
    work(state)  # the probe succeeds, the other waiting reply is made due
    work(state)
    assert [status(state, m) for m in waiting] == ["sent", "sent"]
    assert [len(delivered(brand, f"fan-{n}")) for n in range(2)] == [1, 1]


def test_a_probe_that_fails_again_waits_for_the_next(brand: Any, state: Any) -> None:
    brand.fault(SEND, count=3, errcode=-1)
    waiting = [queue_reply(state, brand, f"fan-{n}", f"回复 {n}") for n in range(2)]
    work(state)
    account_id = str(brand_account_id(state))
    redis = state.queue.connection
    redis.hset(FAILING_KEY, account_id, str(time.time() - send_jobs.PROBE_SECONDS - 1))
    assert sweep(quick=True)["promoted"] == 1
    work(state)  # the probe fails (the third fault): back to its back-off, the account still failing
    assert [status(state, m) for m in waiting] == ["queued", "queued"]
    assert all(scheduled_in(state, m) > 500 for m in waiting)
    assert sweep(quick=True)["promoted"] == 0
    assert not redis.hexists(RECOVERED_KEY, account_id)


@pytest.mark.parametrize("errcode", [45015, 45047])
def test_the_48_hour_window_and_the_quota_are_not_retried(brand: Any, state: Any, errcode: int) -> None:
    brand.fault(SEND, count=1, errcode=errcode)
    closed = queue_reply(state, brand, "fan-closed", "太晚了")
    work(state)
    assert status(state, closed) == "failed"
    assert scheduled_in(state, closed) is None
    assert not state.queue.connection.hexists(FAILING_KEY, str(brand_account_id(state)))  # not an API outage
    queue_reply(state, brand, "fan-ok", "好的")
    work(state)
    sweep(quick=True)
    work(state)
    assert status(state, closed) == "failed" and not delivered(brand, "fan-closed")


def brand_account_id(state: Any) -> int:
    from hub.core.models import Account

    with Session(state.engine) as session:
        return session.exec(select(Account.id).where(Account.key == "brand")).one()
