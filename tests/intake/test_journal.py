"""The intake journal (hub.intake.journal): journaled messages reach the database exactly once, in order, with
their passive replies; journals of killed processes are recovered; a refusing or absent database loses nothing.

Runs on SQLite and PostgreSQL with the journal switched on (on PostgreSQL it is off by default)."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from channels.base import InboundMessage
from hub.intake import journal as intake_journal
from hub.intake.accept import fan_for, inbound_row, message_journal, recover_journals
from hub.intake.inbox import INBOX_KEY
from hub.intake.journal import flush_all
from tests.support.wechat_setup import add_rule, messages, wire_account


@pytest.fixture
def hub_config(hub_config: dict[str, Any]) -> dict[str, Any]:
    return {**hub_config, "intake_journal": "on"}


@pytest.fixture
def brand(state: Any, live_hub: Any, sandbox: Any) -> Any:
    account = wire_account(state, live_hub.url, sandbox.url)
    add_rule(state, account.key, "keyword", "旗舰款 2999 元", pattern="价格", match="exact")
    return account


def journal_dir(state: Any) -> Path:
    return Path(state.config.instance_path) / intake_journal.DIRECTORY


def journal_files(state: Any) -> list[Path]:
    return sorted(journal_dir(state).glob(f"*{intake_journal.SUFFIX}"))


def stored_count(state: Any) -> int:
    return len(messages(state, "in"))


def inbound(text: str, external_id: str, sender: str = "fan-j") -> InboundMessage:
    return InboundMessage(channel="wechat", account="brand", sender=sender, kind="text", text=text,
                          external_id=external_id, sent_at=datetime.now(UTC), raw=f"<xml>{text}</xml>")


def record_for(state: Any, account_id: int, external_id: str, **changes: Any) -> Any:
    """A message's bound parameters as the webhook journals them (for a fan created here)."""
    message = inbound("你好", external_id)
    fan = fan_for(state, account_id, message)
    parameters = inbound_row(state, fan, message, False, datetime.now(UTC)).parameters
    for name, value in changes.items():
        if isinstance(parameters, list):
            parameters[message_journal(state).rows.columns.index(name)] = value
        else:
            parameters[name] = value
    return parameters


def account_id(state: Any, brand: Any) -> int:
    from hub.core.accounts import find_account

    known = find_account(state, brand.key)
    assert known is not None
    return known.id


def test_the_journal_is_on_by_default_only_with_sqlite(state: Any) -> None:
    from dataclasses import replace

    default = replace(state, config=replace(state.config, intake_journal="auto"))
    assert intake_journal.enabled(default) == (state.engine.dialect.name == "sqlite")
    assert intake_journal.enabled(replace(state, config=replace(state.config, intake_journal="off"))) is False
    assert intake_journal.enabled(state) is True


def test_journaled_messages_and_passive_replies_are_stored_in_order(brand: Any, state: Any, worker: Any) -> None:
    assert brand.say("fan-1", text="第一句")["status"] == 200
    assert brand.say("fan-1", text="价格")["reply_text"] == "旗舰款 2999 元"
    assert brand.say("fan-1", text="第三句")["status"] == 200
    [path] = journal_files(state)  # acknowledged from the journal, which this process holds locked
    with open(path, "rb") as file, pytest.raises(BlockingIOError):
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert flush_all(state)
    rows = messages(state)
    # Keys follow arrival, the reply right after what it answers ("the answer before this message").
    assert [(m.direction, m.text) for m in rows] == [
        ("in", "第一句"), ("in", "价格"), ("out", "旗舰款 2999 元"), ("in", "第三句")]
    assert rows[2].reply_to_id == rows[1].id and rows[2].via == "passive" and rows[1].reply_state == "passive"
    worker()
    assert [m.status for m in messages(state, "in")] == ["processed"] * 3
    assert len(brand.outbox("fan-1")) == 0  # the passive reply was the answer: nothing sent twice


def test_journaled_replies_follow_their_messages_while_another_process_writes(
        brand: Any, state: Any, caplog: pytest.LogCaptureFixture) -> None:
    """The other web process's direct writes interleave with the loader's (its own connection and writer
    lock); no load may fail over it (a failed load waits RETRY_SECONDS), and each reply still follows the
    message it answers (on SQLite with the next key: one writer at a time, message and reply in one go)."""
    import threading

    from hub.core.db import make_engine
    from hub.intake.group_commit import GroupCommit

    other_engine = make_engine(state.config)
    other = GroupCommit(other_engine)
    account = account_id(state, brand)
    stop = threading.Event()
    direct: list[int] = []

    def other_process() -> None:
        while not stop.is_set():
            message = inbound("别处", f"other-{len(direct)}", sender="fan-other")
            row = inbound_row(state, fan_for(state, account, message), message, False, datetime.now(UTC))
            direct.append(other.insert(row))
            time.sleep(0.001)

    brand.say("fan-9", text="你好")  # a new fan is written directly; what follows is journaled
    caplog.set_level(logging.WARNING, "hub.intake.journal")
    writer = threading.Thread(target=other_process)
    writer.start()
    try:
        for n in range(30):
            assert brand.say("fan-9", text="价格" if n % 2 else f"第{n}句")["status"] == 200
    finally:
        stop.set()
        writer.join()
        other.close()
        other_engine.dispose()
    started = time.monotonic()
    assert flush_all(state)
    assert time.monotonic() - started < intake_journal.RETRY_SECONDS
    assert [r.getMessage() for r in caplog.records if r.name == "hub.intake.journal"] == []
    rows = messages(state)
    other_ids = {m.id for m in rows if (m.external_id or "").startswith("other-")}
    fan_rows = [m for m in rows if m.id not in other_ids]
    assert len([m for m in fan_rows if m.direction == "in"]) == 31 and len(direct) > 0
    assert len(other_ids) == len(direct)
    replies = {m.reply_to_id: m for m in rows if m.direction == "out"}
    assert len(replies) == 15
    for message in fan_rows:
        if message.text == "价格":
            reply = replies[message.id]
            assert reply.text == "旗舰款 2999 元" and reply.via == "passive"
            assert reply.id > message.id
            if state.engine.dialect.name == "sqlite":
                assert reply.id == message.id + 1


def test_a_delivery_journaled_twice_is_stored_once_with_the_same_reply(brand: Any, state: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from hub.sandbox.wechat import FanSimulator

    def deliver(_: int = 0) -> Any:
        return FanSimulator(brand.webhook, brand.token, brand.app_id, brand.aes_key).text("fan-2", "价格", msg_id=4242)

    brand.say("fan-2", text="先认识一下")  # the fan exists: every copy below takes the journal
    flush_all(state)
    copies = [deliver(), deliver()]  # WeChat's retries, before the loader has run
    with ThreadPoolExecutor(4) as pool:
        copies += list(pool.map(deliver, range(4)))  # and concurrent copies
    assert [c.reply_text for c in copies] == ["旗舰款 2999 元"] * 6
    assert flush_all(state)
    assert [m.text for m in messages(state, "in")] == ["先认识一下", "价格"]
    assert [m.text for m in messages(state, "out")] == ["旗舰款 2999 元"]


def test_the_journal_of_a_killed_process_is_recovered_by_the_sweeper(brand: Any, state: Any) -> None:
    from hub.intake.jobs import sweep

    account = account_id(state, brand)
    records = [record_for(state, account, f"killed-{n}") for n in range(3)]
    child = os.fork()
    if child == 0:  # journal without a loader, then die the hard way
        try:
            journal = message_journal(state)
            journal._run = lambda: time.sleep(3600)  # type: ignore[method-assign]
            for parameters in records:
                journal.append(parameters)
        finally:
            os.kill(os.getpid(), signal.SIGKILL)
    os.waitpid(child, 0)
    [path] = journal_files(state)
    assert stored_count(state) == 0
    sweep()
    assert not path.exists()
    assert sorted(m.external_id for m in messages(state, "in")) == ["killed-0", "killed-1", "killed-2"]
    flush_all(state)
    assert len(state.redis.lrange(INBOX_KEY, 0, -1)) == 3  # handed to the workers
    assert recover_journals(state) == 0


def test_a_journal_loaded_twice_adds_nothing_and_a_live_journal_is_left_alone(brand: Any, state: Any) -> None:
    journal = message_journal(state)
    rows = journal.rows
    directory = journal_dir(state)
    directory.mkdir(parents=True, exist_ok=True)
    account = account_id(state, brand)
    lines = [rows.encode(record_for(state, account, f"twice-{n}")) for n in range(2)]
    orphan = directory / f"1-orphan{intake_journal.SUFFIX}"
    orphan.write_bytes(rows.header() + b"".join(lines))
    assert recover_journals(state) == 1
    orphan.write_bytes(rows.header() + b"".join(lines))  # as if a loader died before deleting it
    assert recover_journals(state) == 1
    assert [m.external_id for m in messages(state, "in")] == ["twice-0", "twice-1"]

    alive = directory / f"2-alive{intake_journal.SUFFIX}"
    alive.write_bytes(rows.header() + rows.encode(record_for(state, account, "alive-0")))
    with open(alive, "rb") as holder:
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
        assert recover_journals(state) == 0 and alive.exists()
    assert recover_journals(state) == 1 and not alive.exists()
    assert stored_count(state) == 3
    unnamed = directory / ".4-died.new"  # a process died between creating its journal and naming it
    unnamed.write_bytes(b"")
    assert recover_journals(state) == 0 and not unnamed.exists()


def test_a_journal_with_other_columns_or_a_torn_last_line_is_loaded(
        brand: Any, state: Any, caplog: pytest.LogCaptureFixture) -> None:
    rows = message_journal(state).rows
    account = account_id(state, brand)
    directory = journal_dir(state)
    directory.mkdir(parents=True, exist_ok=True)
    named = rows.named(record_for(state, account, "older-0"))
    columns = list(reversed(rows.columns))  # another version's column order
    row = [named[c] for c in columns] if isinstance(record_for(state, account, "x"), list) else named
    torn = rows.encode(record_for(state, account, "torn"))[:-20]
    path = directory / f"3-older{intake_journal.SUFFIX}"
    path.write_bytes(rows.header(columns) + rows.encode(row) + torn)
    caplog.set_level(logging.INFO, "hub.intake.journal")
    assert recover_journals(state) == 1
    assert [m.external_id for m in messages(state, "in")] == ["older-0"]
    logged = [r.getMessage() for r in caplog.records]
    assert "intake journal written with other columns, mapping them by name" in logged
    assert "unfinished intake journal record skipped" in logged


def test_a_row_the_database_refuses_is_kept_for_an_operator(
        brand: Any, state: Any, caplog: pytest.LogCaptureFixture) -> None:
    account = account_id(state, brand)
    journal = message_journal(state)
    caplog.set_level(logging.ERROR, "hub.intake.journal")
    assert journal.append(record_for(state, account, "good-0"))
    assert journal.append(record_for(state, account, "orphan-fan", fan_id=987654))  # no such fan
    assert journal.append(record_for(state, account, "good-1"))
    assert flush_all(state)
    assert [m.external_id for m in messages(state, "in")] == ["good-0", "good-1"]
    [kept] = (journal_dir(state) / "rejected.jsonl").read_text().splitlines()
    assert json.loads(kept)["p"]["external_id"] == "orphan-fan"
    assert "intake journal record refused, kept in rejected.jsonl" in [r.getMessage() for r in caplog.records]


def test_the_loader_waits_for_an_absent_database(
        brand: Any, state: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.intake.group_commit import GroupCommit

    account = account_id(state, brand)
    real_run = GroupCommit.run
    failures = iter(range(2))

    def flaky(self: GroupCommit, work: Any) -> Any:
        if next(failures, None) is not None:
            raise OperationalError("INSERT …", {}, ConnectionRefusedError("connection refused"))
        return real_run(self, work)

    monkeypatch.setattr(intake_journal, "RETRY_SECONDS", 0.05)
    monkeypatch.setattr(GroupCommit, "run", flaky)
    journal = message_journal(state)
    assert journal.append(record_for(state, account, "patient-0"))
    assert flush_all(state)
    assert [m.external_id for m in messages(state, "in")] == ["patient-0"]


def test_a_write_that_fails_is_undone_and_the_message_stored_directly(
        brand: Any, state: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    brand.say("fan-5", text="开始")
    flush_all(state)
    journal = message_journal(state)
    [path] = journal_files(state)
    size = path.stat().st_size

    class FullDisk:
        def __getattr__(self, name: str) -> Any:
            return getattr(os, name)

        @staticmethod
        def write(fd: int, data: bytes) -> int:
            return os.write(fd, data[: len(data) // 2])  # the disk filled up mid-record

    monkeypatch.setattr(intake_journal, "os", FullDisk())
    assert brand.say("fan-5", text="磁盘满了")["status"] == 200
    assert path.stat().st_size == size  # the half record was cut off again
    assert [m.text for m in messages(state, "in")] == ["开始", "磁盘满了"]  # stored before the answer
    monkeypatch.undo()
    assert brand.say("fan-5", text="恢复了")["status"] == 200 and journal.flush()
    assert [m.text for m in messages(state, "in")] == ["开始", "磁盘满了", "恢复了"]


def test_a_loaded_journal_is_replaced_by_a_fresh_file(
        brand: Any, state: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(intake_journal, "ROTATE_BYTES", 1)
    brand.say("fan-6", text="一")
    flush_all(state)
    [first] = journal_files(state)
    brand.say("fan-6", text="二")
    flush_all(state)
    for _ in range(100):  # the loader rotates right after loading
        if journal_files(state) != [first]:
            break
        time.sleep(0.02)
    [second] = journal_files(state)
    assert second != first and not first.exists()
    assert [m.text for m in messages(state, "in")] == ["一", "二"]


def test_a_process_that_stops_cleanly_loads_and_deletes_its_journal(brand: Any, state: Any) -> None:
    brand.say("fan-7", text="再见")
    [path] = journal_files(state)
    message_journal(state).close()  # what the web process does at exit
    assert not path.exists()
    assert [m.text for m in messages(state, "in")] == ["再见"]
    assert brand.say("fan-7", text="关机时到达")["status"] == 200  # a request finishing during shutdown
    assert [m.text for m in messages(state, "in")] == ["再见", "关机时到达"]  # stored before the answer


def test_without_a_journal_directory_messages_are_stored_directly(brand: Any, state: Any) -> None:
    directory = journal_dir(state)
    directory.parent.mkdir(parents=True, exist_ok=True)
    directory.write_text("not a directory")  # the journal cannot be created
    assert brand.say("fan-8", text="照常")["status"] == 200
    assert [m.text for m in messages(state, "in")] == ["照常"]  # stored before the answer
