"""A reply is never sent twice: a worker killed after WeChat accepted a message but before the hub recorded it
leaves the message for an agent to check instead of sending it again (the README's "Delivery")."""

from __future__ import annotations

import os
import signal
import statistics
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

import hub.outbound.jobs as send_jobs
from hub.core.db import session_scope
from hub.core.models import IN, Message, utcnow
from hub.intake.journal import flush_all
from hub.outbound.record import record_outbound
from tests.support.wechat_setup import add_rule, wire_account


@pytest.fixture
def brand(state: Any, live_hub: Any, sandbox: Any) -> Any:
    account = wire_account(state, live_hub.url, sandbox.url)
    add_rule(state, account.key, "keyword", "旗舰款 2999 元", pattern="价格", match="exact")
    return account


def _queue_reply(state: Any, brand: Any, openid: str, text: str) -> int:
    """An agent's reply to the fan's last message, queued for the customer-service API."""
    assert brand.say(openid, text="价格")["reply_text"] == "旗舰款 2999 元"  # the fan writes: the window opens
    flush_all(state)
    with session_scope(state.engine) as session:
        inbound = session.exec(select(Message).where(Message.direction == IN).order_by(Message.id.desc())).first()
        return record_outbound(session, inbound, inbound.id, text, source="agent:1", via="api",
                               dedupe_key=f"test:{openid}:{text}")


def _message(state: Any, message_id: int) -> Message:
    with Session(state.engine) as session:
        return session.get(Message, message_id)


class _KilledAfterSend:
    """The channel, but the process dies the moment WeChat has answered: before the hub writes anything."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel

    def send(self, outbound: Any) -> Any:
        self.channel.send(outbound)
        os.kill(os.getpid(), signal.SIGKILL)


def test_a_worker_killed_between_the_send_and_the_sent_mark_does_not_send_twice(
    brand: Any, state: Any, worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub.intake.jobs import sweep
    from hub.outbound.jobs import enqueue_send, send_message

    out_id = _queue_reply(state, brand, "fan-1", "您的订单已发出")
    real_channel_for = send_jobs.channel_for
    monkeypatch.setattr(send_jobs, "channel_for", lambda st, account: _KilledAfterSend(real_channel_for(st, account)))
    pid = os.fork()  # a work horse
    if pid == 0:
        try:
            send_message(out_id)
        finally:
            os._exit(3)  # not reached: killed in the send
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    monkeypatch.setattr(send_jobs, "channel_for", real_channel_for)
    assert [m["text"]["content"] for m in brand.outbox("fan-1")] == ["您的订单已发出"]  # WeChat delivered it
    assert _message(state, out_id).status == "sending"

    enqueue_send(out_id)  # RQ retries the job of a killed horse
    worker()
    with session_scope(state.engine) as session:  # ... and much later the sweeper finds it
        message = session.get(Message, out_id)
        message.processing_started_at = utcnow() - timedelta(hours=1)
        session.add(message)
    assert sweep()["outbound"] == 0
    worker()
    assert sweep()["outbound"] == 0

    assert len(brand.outbox("fan-1")) == 1, "the fan got the reply twice"
    message = _message(state, out_id)
    assert message.status == "failed" and message.error_code == "unconfirmed"
    assert "check with the fan" in message.error_message


def test_the_window_between_wechat_answering_and_the_sent_mark(
    brand: Any, state: Any, worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Measures (prints, does not assert) the seconds between WeChat's answer and the committed `sent`."""
    answered: dict[int, float] = {}
    marked: dict[int, float] = {}
    real_channel_for, real_record_sent = send_jobs.channel_for, send_jobs.record_sent

    class Timed:
        def __init__(self, channel: Any) -> None:
            self.channel = channel

        def send(self, outbound: Any) -> Any:
            result = self.channel.send(outbound)
            answered[len(answered)] = time.perf_counter()
            return result

    def timed_record_sent(connection: Any, message_id: int) -> None:
        real_record_sent(connection, message_id)
        marked[len(marked)] = time.perf_counter()

    monkeypatch.setattr(send_jobs, "channel_for", lambda st, account: Timed(real_channel_for(st, account)))
    monkeypatch.setattr(send_jobs, "record_sent", timed_record_sent)
    ids = [_queue_reply(state, brand, f"fan-{n}", f"回复 {n}") for n in range(20)]
    for message_id in ids:
        assert send_jobs.send_message(message_id) == "sent"
    windows = sorted((marked[i] - answered[i]) * 1000 for i in range(len(ids)))
    backend = state.engine.dialect.name
    print(f"\n{backend}: WeChat answered -> `sent` committed: median {statistics.median(windows):.2f} ms, "
          f"max {windows[-1]:.2f} ms over {len(windows)} sends")
    assert all(_message(state, i).status == "sent" for i in ids)
