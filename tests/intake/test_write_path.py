"""The webhook's write path: writers to one SQLite file queue on its writer lock, prepared statements
store exactly what Core would, and the inbox pusher hands every stored id to Redis once."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from hub.core.sqlite_writer import CHECKPOINT_BYTES, connection_factory
from hub.intake.inbox import INBOX_KEY, pusher


def _connect(path: Path, timeout: float = 1.0) -> sqlite3.Connection:
    conn = sqlite3.connect(path, factory=connection_factory(path), timeout=timeout, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    return conn


def test_a_waiting_writer_proceeds_as_soon_as_the_lock_is_free(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    first, second = _connect(path), _connect(path)
    first.execute("CREATE TABLE t (x INTEGER)")
    first.execute("INSERT INTO t VALUES (1)")
    waited: list[float] = []

    def write() -> None:
        started = time.perf_counter()
        second.execute("INSERT INTO t VALUES (2)")
        second.commit()
        waited.append(time.perf_counter() - started)

    writer = threading.Thread(target=write)
    writer.start()
    time.sleep(0.3)
    assert not waited  # blocked on the lock, not failed
    first.commit()
    writer.join(5)
    assert 0.25 < waited[0] < 0.4  # woken by the commit (a 1 s busy timeout would have failed it)
    assert [row[0] for row in first.execute("SELECT x FROM t ORDER BY x")] == [1, 2]


def test_the_gil_switches_quickly_only_while_a_writer_lock_is_held(tmp_path: Path) -> None:
    import sys

    from hub.core.switch_interval import WRITER_SWITCH_INTERVAL

    default = sys.getswitchinterval()
    a, b = _connect(tmp_path / "a.db"), _connect(tmp_path / "b.db")
    a.execute("CREATE TABLE t (x INTEGER)")
    b.execute("CREATE TABLE t (x INTEGER)")
    a.execute("INSERT INTO t VALUES (1)")
    short = pytest.approx(WRITER_SWITCH_INTERVAL)
    assert sys.getswitchinterval() == short
    holding, done = threading.Event(), threading.Event()

    def other_database() -> None:  # another thread, another database's lock, overlapping the first
        b.execute("INSERT INTO t VALUES (1)")
        holding.set()
        done.wait(5)
        b.commit()

    thread = threading.Thread(target=other_database)
    thread.start()
    assert holding.wait(5)
    a.commit()
    assert sys.getswitchinterval() == short  # b's writer still holds its lock
    done.set()
    thread.join(5)
    assert sys.getswitchinterval() == default
    a.execute("INSERT INTO t VALUES (2)")
    a.rollback()
    assert sys.getswitchinterval() == default


def test_reads_never_wait_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    writer, reader = _connect(path), _connect(path)
    writer.execute("CREATE TABLE t (x INTEGER)")
    writer.execute("INSERT INTO t VALUES (1)")  # open write transaction
    started = time.perf_counter()
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (0,)
    assert time.perf_counter() - started < 0.1
    writer.commit()


def test_one_thread_writing_through_two_connections_gets_an_error_not_a_hang(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    first, second = _connect(path, timeout=0.2), _connect(path, timeout=0.2)
    first.execute("CREATE TABLE t (x INTEGER)")
    first.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        second.execute("INSERT INTO t VALUES (2)")
    first.commit()
    second.execute("INSERT INTO t VALUES (3)")  # the failed statement left no lock behind
    second.commit()


def _wal_growth(path: Path, rows: int = 600) -> int:
    """The largest size the write-ahead log reaches while `rows` small transactions commit."""
    conn = _connect(path)
    conn.execute("PRAGMA wal_autocheckpoint=0")  # as the hub's engine sets it
    conn.execute("CREATE TABLE t (x TEXT)")
    conn.commit()
    largest = 0
    for i in range(rows):
        conn.execute("INSERT INTO t VALUES (?)", (f"{i}" * 400,))
        conn.commit()
        largest = max(largest, (path.parent / (path.name + "-wal")).stat().st_size)
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (rows,)
    conn.close()
    return largest


def test_commits_checkpoint_the_log_after_releasing_the_writer_lock(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hub.core.sqlite_writer as writer

    monkeypatch.setattr(writer, "CHECK_INTERVAL_SECONDS", 0.0)
    monkeypatch.setattr(writer, "CHECKPOINT_BYTES", 10**12)  # never due: the log only grows
    unchecked = _wal_growth(tmp_path / "never.db")
    monkeypatch.setattr(writer, "CHECKPOINT_BYTES", 64 * 1024)
    seen_locked: list[bool] = []
    real = writer.checkpoint

    def spy(connection: Any) -> None:
        seen_locked.append(connection.writer_lock.held)
        real(connection)

    monkeypatch.setattr(writer, "checkpoint", spy)
    checked = _wal_growth(tmp_path / "checked.db")
    assert unchecked > 1024 * 1024  # 600 pages and more with automatic checkpoints off
    assert checked < 256 * 1024  # checkpointed, so the log restarts from its beginning
    assert seen_locked and not any(seen_locked)  # never while other writers would wait


def test_a_commit_never_waits_for_the_checkpoint_it_asks_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hub.core.sqlite_writer as writer

    monkeypatch.setattr(writer, "CHECK_INTERVAL_SECONDS", 0.0)
    monkeypatch.setattr(writer, "CHECKPOINT_BYTES", 16 * 1024)
    release, started = threading.Event(), threading.Event()
    ran_in: list[str] = []
    real = writer.checkpoint

    def slow(connection: Any) -> None:  # a checkpoint stuck on a slow disk
        ran_in.append(threading.current_thread().name)
        started.set()
        assert release.wait(10)
        real(connection)

    monkeypatch.setattr(writer, "checkpoint", slow)
    path = tmp_path / "slow.db"
    conn = _connect(path)
    conn.execute("PRAGMA wal_autocheckpoint=0")  # as the hub's engine sets them
    conn.execute("PRAGMA journal_size_limit=16384")
    conn.execute("CREATE TABLE t (x TEXT)")
    conn.commit()
    began = time.monotonic()
    for i in range(40):  # past 16 KiB of log: the checkpoint is due, and stuck
        conn.execute("INSERT INTO t VALUES (?)", ("x" * 1000 + str(i),))
        conn.commit()
    assert started.wait(5) and time.monotonic() - began < 5  # the commits went on meanwhile
    checkpointer = type(conn).checkpointer
    before = checkpointer.done
    release.set()
    deadline = time.monotonic() + 10
    while checkpointer.done == before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert checkpointer.done > before and ran_in[0] == "sqlite-checkpoint"
    conn.execute("INSERT INTO t VALUES ('after')")  # the next write starts the log over
    conn.commit()
    assert (path.parent / (path.name + "-wal")).stat().st_size <= 16 * 1024  # cut back to the limit
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (41,)


def test_the_log_starts_over_while_writers_keep_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint that races writers never reaches the end of the log; the final step under the writer
    lock does, so the log restarts instead of growing for as long as the load lasts."""
    import hub.core.sqlite_writer as writer

    monkeypatch.setattr(writer, "CHECK_INTERVAL_SECONDS", 0.0)
    monkeypatch.setattr(writer, "CHECKPOINT_BYTES", 256 * 1024)
    path = tmp_path / "busy.db"
    setup = _connect(path)
    setup.execute("PRAGMA wal_autocheckpoint=0")
    setup.execute("CREATE TABLE t (x TEXT)")
    setup.commit()
    wal = path.parent / (path.name + "-wal")
    largest = [0]

    def write(n: int) -> None:
        conn = _connect(path, timeout=30)
        conn.execute("PRAGMA wal_autocheckpoint=0")
        for _ in range(400):
            conn.execute("INSERT INTO t VALUES (?)", (f"{n}" * 2000,))
            conn.commit()
            largest[0] = max(largest[0], wal.stat().st_size)
        conn.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert setup.execute("SELECT count(*) FROM t").fetchone()[0] == 1200  # some 5 MB through the log
    assert largest[0] < 2 * 1024 * 1024


def test_the_hub_engine_leaves_checkpoints_to_the_commits(state: Any) -> None:
    if state.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with state.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        assert conn.exec_driver_sql("PRAGMA journal_size_limit").scalar() == CHECKPOINT_BYTES
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_prepared_insert_stores_what_core_stores(state: Any) -> None:
    from hub.core.db import session_scope
    from hub.core.models import Account, Fan, Identity, Message, utcnow
    from hub.core.prepared import PreparedInsert

    table = Message.__table__
    now = utcnow()
    with session_scope(state.engine) as session:
        account, fan = Account(key="p", channel="wechat"), Fan(display_name="")
        session.add_all([account, fan])
        session.flush()
        identity = Identity(fan_id=fan.id, account_id=account.id, external_id="o", subscribed=True)
        session.add(identity)
        session.flush()
        account, fan, identity = account.id, fan.id, identity.id
    with state.engine.begin() as conn:
        row = {c.name: None for c in table.c if c.name != "id"}
        row.update(account_id=account, fan_id=fan, identity_id=identity, direction="in", kind="text",
                   text="你好", sent_at=now, received_at=now, status="received", reply_state="pending", source="fan",
                   attempts=0, meta={"scene": "春季", "n": 1}, raw="<xml/>")
        via_core = conn.execute(insert(table).values({**row, "external_id": "core"}).returning(table.c.id)).scalar_one()
        via_prepared = PreparedInsert(table).run(conn, {**row, "external_id": "prepared"})
        after = conn.execute(insert(table).values({**row, "external_id": "after"}).returning(table.c.id)).scalar_one()
        assert via_core < via_prepared < after  # the new row's own key (lastrowid on SQLite, RETURNING elsewhere)
    with state.engine.connect() as conn:
        core, prepared = (conn.execute(select(table).where(table.c.id == i)).one()._mapping
                          for i in (via_core, via_prepared))
        assert prepared["external_id"] == "prepared"
        assert {k: v for k, v in prepared.items() if k not in ("id", "external_id")} == \
               {k: v for k, v in core.items() if k not in ("id", "external_id")}
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), state.engine.begin() as conn:  # raised as SQLAlchemy's, like Core
        PreparedInsert(table).run(conn, {**row, "external_id": "core"})


def test_the_pusher_hands_every_id_to_the_inbox_once(state: Any) -> None:
    state.redis.delete(INBOX_KEY)
    ids = list(range(1, 401))

    def push_some(part: list[int]) -> None:
        for message_id in part:
            pusher(state).push(message_id)

    threads = [threading.Thread(target=push_some, args=(ids[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert pusher(state).flush(5)
    pushed = [int(v) for v in state.redis.lrange(INBOX_KEY, 0, -1)]
    assert sorted(pushed) == ids
    assert state.redis.llen(INBOX_KEY) == 400
