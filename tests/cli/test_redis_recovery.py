"""Recovery after Redis outages: a real `hub worker` (RQ worker, scheduler, sweeper, dispatcher) and a real
redis-server that is killed and started again empty, with the WeChat API emulation over HTTP.

Each test has its own redis-server (the session one is shared by the other tests)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from hub.core.db import session_scope
from hub.core.models import IN, Message
from hub.intake.journal import flush_all
from hub.outbound.record import record_outbound
from tests.support.servers import RedisServer, stop_processes, worker_env
from tests.support.wechat_setup import add_rule, wire_account

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # a subprocess shares the file


@pytest.fixture
def hub_config(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> dict[str, Any]:
    embedded = "embedded" in request.node.name
    return {
        "instance_path": str(tmp_path / "instance"),
        "database_url": database_url,
        "redis_url": "" if embedded else request.getfixturevalue("own_redis").url,
        "secret_key": "test-secret-key",
        "testing": True,
        "log_format": "text",
        "sweep_grace_seconds": 0,
    }


@pytest.fixture
def hub_worker(hub_config: dict[str, Any], tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """`hub worker` as users run it, configured like the test's app."""
    started: list[subprocess.Popen[bytes]] = []
    log_path = tmp_path / "worker.log"

    def start() -> subprocess.Popen[bytes]:
        env = worker_env(hub_config)
        env.pop("HUB_SWEEP_GRACE_SECONDS")  # the worker runs on the defaults users get
        if not hub_config["redis_url"]:
            env.pop("HUB_REDIS_URL")  # the embedded Redis
        log = log_path.open("ab")
        process = subprocess.Popen([sys.executable, "-m", "hub", "worker"], env=env, stdout=log, stderr=log)
        started.append(process)
        return process

    yield start
    stop_processes(started)
    if log_path.exists():
        print(log_path.read_text(errors="replace")[-6000:])


def _wait(predicate: Callable[[], Any], seconds: float, what: str,
          process: subprocess.Popen[bytes] | None = None) -> float:
    """Poll until `predicate()` is truthy; the seconds it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > seconds:
            raise AssertionError(f"{what}: not within {seconds} s")
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what}: the worker exited with {process.returncode}")
        time.sleep(0.1)
    return time.monotonic() - start


def _message(state: Any, message_id: int) -> Message:
    with Session(state.engine) as session:
        return session.get(Message, message_id)


def _reply_awaiting_its_retry(state: Any, live_hub: Any, sandbox: Any, hub_worker: Any) -> tuple[Any, int, Any]:
    """An agent's reply whose first delivery failed, its retry scheduled in 5 s, with `hub worker` running."""
    from hub.outbound.jobs import enqueue_send

    brand = wire_account(state, live_hub.url, sandbox.url)
    add_rule(state, brand.key, "keyword", "旗舰款 2999 元", pattern="价格", match="exact")
    assert brand.say("fan-1", text="价格")["reply_text"] == "旗舰款 2999 元"  # opens the 48-hour window
    state.config = replace(state.config, send_retry_seconds="5,30,120,600")  # what `hub worker` uses
    brand.fault("message/custom/send", count=1, errcode=-1)  # the first attempt fails: a retry in 5 s
    flush_all(state)  # the message was journaled (hub.intake.journal)
    with session_scope(state.engine) as session:
        inbound = session.exec(select(Message).where(Message.direction == IN)).one()
        out_id = record_outbound(session, inbound, inbound.id, "客服的回复", source="agent:1", via="api",
                                 dedupe_key="test:agent-reply")
    worker = hub_worker()
    assert enqueue_send(out_id)
    _wait(lambda: _message(state, out_id).attempts == 1 and _message(state, out_id).status == "queued", 60,
          "the first attempt", worker)
    return brand, out_id, worker


@sqlite_only
def test_a_reply_awaiting_its_retry_is_delivered_soon_after_redis_returns_empty(
    state: Any, live_hub: Any, sandbox: Any, own_redis: RedisServer, hub_worker: Any
) -> None:

    brand, out_id, worker = _reply_awaiting_its_retry(state, live_hub, sandbox, hub_worker)
    own_redis.stop()  # the retry job dies with Redis's data
    time.sleep(3)
    own_redis.start()  # empty
    took = _wait(lambda: brand.outbox("fan-1"), 60, "the reply after Redis came back", worker)
    print(f"delivered {took:.1f} s after Redis came back")
    assert worker.poll() is None, "the worker process must outlive the outage"
    assert [m["text"]["content"] for m in brand.outbox("fan-1")] == ["客服的回复"]
    # the emulation has the message the moment it is posted; the worker records "sent" just after
    _wait(lambda: _message(state, out_id).status == "sent", 10, "the reply recorded as sent", worker)
    assert took < 10


@sqlite_only
def test_a_retry_scheduled_before_an_outage_runs_on_time_when_redis_returns_with_its_data(
    state: Any, live_hub: Any, sandbox: Any, own_redis: RedisServer, hub_worker: Any
) -> None:
    """Redis comes back with its data (the embedded Redis keeps a file): the retry waits in the scheduled registry,
    and only a living scheduler moves it into the queue. RQ's scheduler process exits on the first Redis error."""
    import redis


    brand, out_id, worker = _reply_awaiting_its_retry(state, live_hub, sandbox, hub_worker)
    redis.Redis(port=own_redis.port).save()  # what the restarted server loads
    own_redis.stop()
    time.sleep(3)
    own_redis.start()
    took = _wait(lambda: brand.outbox("fan-1"), 60, "the retry after Redis came back", worker)
    print(f"retried {took:.1f} s after Redis came back (it was due about 2 s after)")
    assert [m["text"]["content"] for m in brand.outbox("fan-1")] == ["客服的回复"]
    # the emulation has the message the moment it is posted; the worker records "sent" just after
    _wait(lambda: _message(state, out_id).status == "sent", 10, "the reply recorded as sent", worker)
    assert took < 10


def test_the_embedded_redis_is_started_again_at_the_same_address(tmp_path: Path) -> None:
    import signal
    import threading

    import redis

    from hub.core.redis_conn import embedded_redis_url, keep_embedded_redis

    url = embedded_redis_url(tmp_path / "instance")
    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    assert client.ping()
    stop = threading.Event()
    keep_embedded_redis(tmp_path / "instance", stop, every=0.2)
    try:
        os.kill(int(client.info("server")["process_id"]), signal.SIGKILL)
        took = _wait(lambda: _answers(client), 10, "the embedded Redis again")
        print(f"the embedded Redis answered again {took:.1f} s after it was killed")
        assert embedded_redis_url(tmp_path / "instance") == url  # every process finds it where it was
    finally:
        stop.set()
        client.shutdown(nosave=True)


def _answers(client: Any) -> bool:
    import redis

    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@sqlite_only
def test_processing_resumes_within_seconds_after_the_embedded_redis_is_killed(
    hub_config: dict[str, Any], live_hub: Any, sandbox: Any, state: Any, hub_worker: Any
) -> None:
    """No HUB_REDIS_URL: the worker finds the embedded Redis, starts it again when it dies, and goes on."""
    import signal

    import redis

    assert not state.config.redis_url
    brand = wire_account(state, live_hub.url, sandbox.url)
    worker = hub_worker()
    assert brand.say("fan-1", text="你好")["status"] == 200
    _wait(lambda: _statuses(state) == ["processed"], 60, "the first message", worker)
    os.kill(int(state.redis.info("server")["process_id"]), signal.SIGKILL)
    killed = time.monotonic()
    probe = redis.Redis(unix_socket_path=state.redis.connection_pool.connection_kwargs["path"], socket_timeout=1)
    _wait(lambda: _answers(probe), 10, "the embedded Redis again", worker)
    print(f"the embedded Redis answered again {time.monotonic() - killed:.1f} s after it was killed")
    assert brand.say("fan-1", text="还在吗")["status"] == 200
    flush_all(state)
    took = _wait(lambda: _statuses(state) == ["processed", "processed"], 30, "the next message", worker)
    print(f"the next message was processed {took:.1f} s after it arrived")
    assert took < 10


def _statuses(state: Any) -> list[str]:
    with Session(state.engine) as session:
        return [m.status for m in session.exec(select(Message).where(Message.direction == IN).order_by(Message.id))]


@sqlite_only
def test_a_killed_scheduler_is_started_again_within_seconds(
    state: Any, own_redis: RedisServer, hub_worker: Any
) -> None:
    """RQ starts a dead scheduler again only in its maintenance tasks, every ten minutes."""
    import signal

    import redis

    client = redis.Redis(port=own_redis.port)

    def scheduler_pids() -> set[int]:
        return {int(client.hget(key, "pid") or 0) for key in client.scan_iter("rq:scheduler:*")
                if client.type(key) == b"hash"} - {0}

    worker = hub_worker()
    _wait(scheduler_pids, 60, "the scheduler", worker)
    (pid,) = scheduler_pids()
    os.kill(pid, signal.SIGKILL)
    took = _wait(lambda: scheduler_pids() - {pid}, 30, "a new scheduler", worker)
    print(f"a new scheduler ran {took:.1f} s after the old one was killed")
    assert took < 5


@sqlite_only
def test_the_sweeper_replaces_jobs_that_only_look_alive(state: Any) -> None:
    """A job's status is not enough: a queued job must be in its queue, a scheduled one not long overdue."""
    from datetime import UTC, datetime, timedelta

    from hub.core.queue import enqueue
    from hub.outbound.jobs import send_message

    assert enqueue(state.queue, send_message, 999_999)
    state.redis.delete(state.queue.key)  # its place in the queue is gone, its hash says "queued"
    state.queue.enqueue_at(datetime.now(UTC) - timedelta(minutes=1), send_message, 999_998,
                           job_id="send_message-999998")  # due a minute ago: no scheduler is running
    assert enqueue(state.queue, send_message, 999_999, replace_dead=True)
    assert enqueue(state.queue, send_message, 999_998, replace_dead=True)
    assert sorted(state.queue.get_job_ids()) == ["send_message-999998", "send_message-999999"]
    assert enqueue(state.queue, send_message, 999_999, replace_dead=True)  # really queued now: left alone
    assert sorted(state.queue.get_job_ids()) == ["send_message-999998", "send_message-999999"]
