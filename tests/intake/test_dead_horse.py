"""A work horse SIGKILLed mid-job: the message it claimed is taken back within a sweeper pass (seconds), not after
`stale_processing_seconds`, and still handled exactly once; a send it claimed is left `unconfirmed` at once (at
most once: README "Delivery"). Real RQ forking workers and a real redis-server; the horse kills itself."""

from __future__ import annotations

import os
import signal
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rq.job import Job, JobStatus
from sqlmodel import Session

import hub.conversation.jobs as conversation_jobs
import hub.outbound.jobs as send_jobs
from hub.conversation import MAX_PROCESS_ATTEMPTS, process_message
from hub.core.db import session_scope
from hub.core.models import Message, utcnow
from hub.core.queue import job_id_for
from hub.core.workers import HubWorker
from hub.intake.dispatch import drain
from hub.intake.jobs import sweep
from hub.intake.journal import flush_all
from tests.support.wechat_setup import add_rule, messages, wire_account

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # forked horses share the file


@pytest.fixture
def brand(state: Any, live_hub: Any, sandbox: Any) -> Any:
    account = wire_account(state, live_hub.url, sandbox.url)
    add_rule(state, account.key, "default", "收到，客服会尽快回复您。")
    state.config = replace(state.config, reply_budget_ms=0)  # as in bench/chaos.py: every answer via the API
    return account


def forking_worker(state: Any) -> None:
    """RQ's forking worker, as `hub worker` runs jobs: a killed horse is noticed and its job moved on by RQ."""
    drain(state)
    state.engine.dispose()  # the horses open their own connections
    HubWorker([state.queue], connection=state.queue.connection).work(burst=True)


def kill_the_horse_in(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, marker: Path | None) -> None:
    """The horse dies (SIGKILL) when it calls `module.name`; only the first time when `marker` is given."""
    real = getattr(module, name)

    def dying(*args: Any, **kwargs: Any) -> Any:
        if marker is None or not marker.exists():
            if marker is not None:
                marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, dying)


def inbound(state: Any) -> Message:
    [message] = messages(state, "in")
    return message


def _message(state: Any, message_id: int) -> Message:
    with Session(state.engine) as session:
        return session.get(Message, message_id)


@sqlite_only
def test_a_message_whose_horse_was_killed_is_taken_back_at_once_and_answered_once(
    brand: Any, state: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kill_the_horse_in(monkeypatch, conversation_jobs, "tag_message", tmp_path / "killed")  # after the claim
    assert brand.say("fan-1", text="在吗")["status"] == 200
    flush_all(state)
    forking_worker(state)
    message = inbound(state)
    assert message.status == "processing" and message.attempts == 1  # claimed by the horse that died
    job = Job.fetch(job_id_for(process_message, message.id), connection=state.queue.connection)
    assert job.get_status() == JobStatus.FAILED  # RQ's verdict on a killed horse

    assert sweep(quick=True)["inbound"] == 1  # a quick pass: no waiting for stale_processing_seconds
    assert inbound(state).status == "received"
    forking_worker(state)
    message = inbound(state)
    assert message.status == "processed" and message.attempts == 2
    assert [m["text"]["content"] for m in brand.outbox("fan-1")] == ["收到，客服会尽快回复您。"]
    assert len(messages(state, "out")) == 1
    assert sweep(quick=True)["inbound"] == 0 and sweep()["inbound"] == 0


@sqlite_only
def test_a_message_that_kills_every_horse_ends_failed(
    brand: Any, state: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    kill_the_horse_in(monkeypatch, conversation_jobs, "tag_message", None)  # a poison message
    assert brand.say("fan-2", text="毒")["status"] == 200
    flush_all(state)
    for _ in range(MAX_PROCESS_ATTEMPTS):
        forking_worker(state)
        sweep(quick=True)
    message = inbound(state)
    assert message.status == "failed" and message.attempts == MAX_PROCESS_ATTEMPTS
    assert "repeatedly" in message.error_message
    assert sweep(quick=True)["inbound"] == 0 and sweep()["inbound"] == 0
    assert not brand.outbox("fan-2")


@sqlite_only
def test_a_send_whose_horse_was_killed_is_unconfirmed_at_once_and_not_sent_again(
    brand: Any, state: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_channel_for = send_jobs.channel_for

    class KilledAfterSend:
        def __init__(self, channel: Any) -> None:
            self.channel = channel

        def send(self, outbound: Any) -> Any:
            self.channel.send(outbound)
            os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(send_jobs, "channel_for", lambda st, account: KilledAfterSend(real_channel_for(st, account)))
    assert brand.say("fan-3", text="在吗")["status"] == 200
    flush_all(state)
    forking_worker(state)  # processes the message; the send's horse dies; RQ retries it: "skipped: not queued"
    [reply] = messages(state, "out")
    assert reply.status == "sending"
    assert sweep(quick=True)["unconfirmed"] == 1
    reply = _message(state, reply.id)
    assert reply.status == "failed" and reply.error_code == "unconfirmed"
    forking_worker(state)
    sweep()
    assert len(brand.outbox("fan-3")) == 1, "the fan got the reply twice"
    assert inbound(state).status == "processed"


def test_a_running_job_and_a_job_redis_forgot_a_moment_ago_are_left_alone(brand: Any, state: Any) -> None:
    """Only a job known to have ended frees its message at once; one Redis lost (its horse may still run it)
    only after MISSING_JOB_SECONDS; the stale_processing_seconds rule stays as the last fallback."""
    assert brand.say("fan-4", text="在吗")["status"] == 200
    flush_all(state)
    state.queue.empty()
    message = inbound(state)
    with session_scope(state.engine) as session:
        row = session.get(Message, message.id)
        row.status, row.processing_started_at, row.attempts = "processing", utcnow(), 1
    job = state.queue.enqueue_call(process_message, args=(message.id,), job_id=job_id_for(process_message, message.id))
    state.queue.remove(job)
    job.set_status(JobStatus.STARTED)
    job.heartbeat(utcnow(), 60)
    assert sweep(quick=True)["inbound"] == 0  # running and heart-beating
    assert inbound(state).status == "processing"

    job.delete()  # Redis lost it
    assert sweep(quick=True)["inbound"] == 0
    assert inbound(state).status == "processing"
    with session_scope(state.engine) as session:
        session.get(Message, message.id).processing_started_at = utcnow() - timedelta(seconds=200)
    assert sweep(quick=True)["inbound"] == 1
    assert inbound(state).status == "received"
