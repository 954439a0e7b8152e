"""Group commit: concurrent writes share a transaction, each caller gets its own outcome, and one caller's
failure (a duplicate) never fails the others. On SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, event, func, insert, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from hub.core.prepared import PreparedInsert
from hub.intake.group_commit import GroupCommit

_META = MetaData()
_ROWS = Table("gc_rows", _META, Column("id", Integer, primary_key=True), Column("key", String(40), unique=True))


@contextlib.contextmanager
def _tables(database_url: str, **engine_options: Any) -> Iterator[Engine]:
    """An engine on the test database with this module's tables, created fresh and dropped after."""
    engine = create_engine(database_url, **engine_options)
    _META.drop_all(engine)
    _META.create_all(engine)
    try:
        yield engine
    finally:
        _META.drop_all(engine)
        engine.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with _tables(database_url) as engine:
        yield engine


class Recording(GroupCommit):
    """Records which keys each transaction committed together."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.transactions: list[int] = []

    def _together(self, batch: list[Any]) -> None:
        super()._together(batch)
        self.transactions.append(len(batch))


def _insert(key: str, gate: threading.Event | None = None) -> Callable[[Connection], int]:
    def work(conn: Connection) -> int:
        if gate is not None:
            assert gate.wait(5)
        return conn.execute(insert(_ROWS).values(key=key).returning(_ROWS.c.id)).scalar_one()
    return work


_INSERT_ROW = PreparedInsert(_ROWS)
_INSERT_KEYED_ROW = PreparedInsert(_ROWS, natural_key=("key",))  # PostgreSQL: one statement per batch
Write = Callable[[GroupCommit, str, "threading.Event | None"], int]


def _work(committer: GroupCommit, key: str, gate: threading.Event | None) -> int:
    return committer.run(_insert(key, gate))


def _row_then(insert_row: PreparedInsert) -> Write:
    """Insert the key's row with `insert_row`, then work that returns the row's new id."""
    def write(committer: GroupCommit, key: str, gate: threading.Event | None) -> int:
        def work(conn: Connection, new_id: int) -> int:
            if gate is not None:
                assert gate.wait(5)
            return new_id
        return committer.run_after_insert(insert_row.row(committer.engine.dialect, {"key": key}), work)
    return write


def _inserts(insert_row: PreparedInsert) -> Write:
    """Only insert the key's row (GroupCommit.insert); a caller given a gate (the leader in
    _run_while_leader_is_held) inserts with work that holds its transaction open until the gate opens."""
    def write(committer: GroupCommit, key: str, gate: threading.Event | None) -> int:
        if gate is not None:
            return _row_then(insert_row)(committer, key, gate)
        return committer.insert(insert_row.row(committer.engine.dialect, {"key": key}))
    return write


_WRITES = pytest.mark.parametrize(
    "write",
    [_work, _row_then(_INSERT_ROW), _row_then(_INSERT_KEYED_ROW), _inserts(_INSERT_ROW), _inserts(_INSERT_KEYED_ROW)],
    ids=["work", "row-then-work", "keyed-row-then-work", "insert", "keyed-insert"])


def _run_while_leader_is_held(committer: GroupCommit, keys: list[str], write: Write = _work,
                              ) -> tuple[dict[str, Any], list[str]]:
    """The first key leads and blocks inside its transaction until all the other callers have queued."""
    gate = threading.Event()
    outcomes: dict[str, Any] = {}

    def call(key: str, gate: threading.Event | None) -> None:
        try:
            outcomes[key] = write(committer, key, gate)
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            outcomes[key] = exc

    leader = threading.Thread(target=call, args=(keys[0], gate))
    leader.start()
    while not committer._busy:
        threading.Event().wait(0.001)
    followers = [threading.Thread(target=call, args=(key, None)) for key in keys[1:]]
    for thread in followers:
        thread.start()
    while len(committer._queue) < len(keys) - 1:  # all followers queued behind the held leader
        threading.Event().wait(0.001)
    gate.set()
    for thread in [leader, *followers]:
        thread.join(10)
    return outcomes, keys


@_WRITES
def test_concurrent_writes_share_one_transaction_and_each_gets_its_own_result(engine: Engine, write: Write) -> None:
    committer = Recording(engine)
    outcomes, keys = _run_while_leader_is_held(committer, ["lead", "a", "b", "c"], write)
    assert committer.transactions == [3]  # the leader alone, then the three that queued meanwhile, together
    with engine.connect() as conn:
        stored = dict(conn.execute(select(_ROWS.c.key, _ROWS.c.id)).all())
    assert outcomes == stored  # each caller got the id of its own row
    assert committer._busy is False and committer._queue == []


@_WRITES
def test_a_duplicate_in_a_shared_transaction_fails_only_its_own_caller(engine: Engine, write: Write) -> None:
    committer = Recording(engine)
    write(committer, "taken", None)
    outcomes, _ = _run_while_leader_is_held(committer, ["lead", "x", "taken", "y"], write)
    assert isinstance(outcomes["taken"], IntegrityError)
    assert all(isinstance(outcomes[key], int) for key in ("lead", "x", "y"))
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(_ROWS)) == 4  # taken, lead, x, y: once each


def test_without_concurrency_each_write_commits_alone(engine: Engine) -> None:
    committer = Recording(engine)
    ids = [committer.run(_insert(f"k{i}")) for i in range(5)]
    assert len(set(ids)) == 5 and committer.transactions == []  # never a shared transaction


def test_many_threads_lose_nothing(engine: Engine) -> None:
    committer = GroupCommit(engine, max_batch=4)
    results: list[int] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        for i in range(25):
            row_id = committer.run(_insert(f"t{n}-{i}"))
            with lock:
                results.append(row_id)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    with engine.connect() as conn:
        stored = set(conn.scalars(select(_ROWS.c.id)))
    assert len(results) == 200 and set(results) == stored


def _dbapi_connection(conn: Connection) -> Any:
    return conn.connection.driver_connection


def test_leaders_keep_one_connection_between_transactions(engine: Engine) -> None:
    committer = GroupCommit(engine)
    seen = [committer.run(_dbapi_connection) for _ in range(3)]
    assert seen[0] is seen[1] is seen[2]  # no pool checkout per transaction
    committer.close()
    assert committer.run(_dbapi_connection) is not None and committer._conn is not None


def test_a_connection_left_idle_goes_back_to_the_pool_and_its_pre_ping(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    import hub.intake.group_commit as group_commit

    committer = GroupCommit(engine)
    committer.run(_insert("first"))
    held = committer._conn
    monkeypatch.setattr(group_commit, "IDLE_SECONDS", 0.0)  # every pause counts as a quiet spell
    committer.run(_insert("second"))
    assert held is not None and held.closed and committer._conn is not held


def test_a_lost_connection_is_replaced_and_nothing_after_it_fails(engine: Engine) -> None:
    committer = GroupCommit(engine)
    committer.run(_insert("before"))
    first = committer._conn

    def lose_connection(conn: Connection) -> None:
        conn.invalidate()  # as SQLAlchemy does when the server goes away mid-transaction
        raise ConnectionError("server closed the connection")

    with pytest.raises(ConnectionError):
        committer.run(lose_connection)
    assert committer._conn is None
    committer.run(_insert("after"))
    assert committer._conn is not None and committer._conn is not first
    with engine.connect() as conn:
        assert set(conn.scalars(select(_ROWS.c.key))) == {"before", "after"}


def test_a_forked_child_opens_its_own_connection(engine: Engine) -> None:
    committer = GroupCommit(engine)
    committer.run(_insert("parent"))
    parents = committer._conn
    committer._conn_pid = -1  # as if this process were a child forked after the connection was opened
    committer.run(_insert("child"))
    assert committer._conn is not parents and parents is not None and not parents.closed  # left to the parent


def test_the_gil_switches_quickly_during_a_transaction_on_postgresql(engine: Engine) -> None:
    """PostgreSQL's round trips release the GIL: the leader takes it back sooner (hub.core.switch_interval).
    SQLite's writer lock sets the interval itself while it is held (tests/intake/test_write_path.py)."""
    import sys

    from hub.core.switch_interval import WRITER_SWITCH_INTERVAL

    default = sys.getswitchinterval()
    seen: list[float] = []

    def work(conn: Connection) -> None:
        seen.append(sys.getswitchinterval())

    GroupCommit(engine).run(work)
    expected = WRITER_SWITCH_INTERVAL if engine.dialect.name == "postgresql" else default
    assert seen == [pytest.approx(expected)]
    assert sys.getswitchinterval() == default


@pytest.mark.parametrize("keyed", [False, True], ids=["plain", "keyed"])
def test_a_multi_row_insert_gives_each_row_its_own_key(engine: Engine, keyed: bool) -> None:
    insert_row = _INSERT_KEYED_ROW if keyed else _INSERT_ROW
    keys = [f"m{i}" for i in range(7)] + [None]  # a row without a natural key: PostgreSQL goes row by row
    for batch in (keys[:7], keys):
        with engine.begin() as conn:
            ids = insert_row.insert_rows(conn, [insert_row.bind(conn.dialect, {"key": key}) for key in batch])
            assert len(set(ids)) == len(batch)
            stored = dict(conn.execute(select(_ROWS.c.id, _ROWS.c.key).where(_ROWS.c.id.in_(ids))).all())
            assert [stored[i] for i in ids] == batch
            conn.rollback()


@pytest.mark.parametrize("insert_row", [_INSERT_ROW, _INSERT_KEYED_ROW], ids=["plain", "keyed"])
def test_a_batch_of_inserts_in_one_statement_runs_without_a_transaction(engine: Engine,
                                                                        insert_row: PreparedInsert) -> None:
    """One statement is atomic by itself: no BEGIN and COMMIT around it. The connection goes back to
    transactions afterwards: work that fails takes its row with it."""
    begins: list[int] = []
    event.listen(engine, "begin", lambda conn: begins.append(1))
    committer = Recording(engine)
    outcomes, keys = _run_while_leader_is_held(committer, ["lead", "a", "b", "c"], _inserts(insert_row))
    one_statement = engine.dialect.name == "sqlite" or bool(insert_row.natural_key)
    assert committer.transactions == [3]
    assert len(begins) == (1 if one_statement else 2)  # the leader's, for its work; the inserts' if not one statement

    def fail(conn: Connection, new_id: int) -> None:
        raise RuntimeError("the work after the insert failed")

    with pytest.raises(RuntimeError):
        committer.run_after_insert(insert_row.row(engine.dialect, {"key": "undone"}), fail)
    assert committer.insert(insert_row.row(engine.dialect, {"key": "alone"})) > 0  # a batch of one, too
    assert len(begins) == (2 if one_statement else 3)  # the failed work's transaction; "alone" needed none
    with engine.connect() as conn:
        stored = dict(conn.execute(select(_ROWS.c.key, _ROWS.c.id)).all())
    assert stored == {**outcomes, "alone": stored["alone"]}  # no "undone"


def test_inserts_after_the_pools_pre_ping(database_url: str) -> None:
    """The pool's pre-ping (as the hub's PostgreSQL engine does it) may leave the DB-API connection in a
    transaction of its own; an insert in autocommit mode after it still commits."""
    with _tables(database_url, pool_pre_ping=True) as engine:
        committer = GroupCommit(engine)
        for key in ("before", "after"):
            committer.insert(_INSERT_ROW.row(engine.dialect, {"key": key}))
            committer.close()  # back to the pool: the next checkout pings
        with engine.connect() as conn:
            assert set(conn.scalars(select(_ROWS.c.key))) == {"before", "after"}


def test_an_insert_on_a_connection_the_server_closed_fails_alone(engine: Engine) -> None:
    """Nothing rolls back after a statement in autocommit mode (which is how SQLAlchemy notices a dead
    connection): the failed insert drops the connection itself, and the next one opens a fresh one."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: a SQLite connection cannot be closed by a server")
    committer = GroupCommit(engine)
    committer.insert(_INSERT_ROW.row(engine.dialect, {"key": "before"}))
    pid = committer._conn.connection.driver_connection.get_backend_pid()  # type: ignore[union-attr]
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    with pytest.raises(DBAPIError):
        committer.insert(_INSERT_ROW.row(engine.dialect, {"key": "lost"}))
    assert committer._conn is None
    committer.insert(_INSERT_ROW.row(engine.dialect, {"key": "after"}))
    with engine.connect() as conn:
        assert set(conn.scalars(select(_ROWS.c.key))) == {"before", "after"}
