"""Group commit: the webhook writes of concurrent requests in one process share one transaction.

Under load, most of a message's write cost is the commit (and, on SQLite, the writer lock around it), not
its INSERT. A request that finds another request's transaction in progress queues its work; when that
transaction ends, the first queued request leads the next one and runs the work of every request queued
by then, in order, in one transaction, with one commit. Each request still returns only once its own
work is committed, so "accepted" keeps meaning "durable". Without concurrency a request runs alone, as
before, at the cost of one uncontended mutex.

If the shared transaction fails (say one message is a duplicate and hits the unique key), it is rolled
back and each piece of work is run again alone in its own transaction, so each request gets its own
outcome and no request is failed by another's. Work must therefore only write to the database (it may be
run twice, the first time rolled back) and must be quick: the others wait for it.

Only one request leads at a time, so the leaders share one connection kept open between transactions:
checking a connection out of the pool and back (with its reset) cost as much CPU as the INSERT and the
commit together. A connection that fails is dropped and the next transaction opens a fresh one; so is one
left idle for IDLE_SECONDS, so that after a quiet spell the pool checks the server is still there
(PostgreSQL's pre-ping) instead of the first message failing on a connection the server has closed. A
forked child never uses its parent's connection.

The leader's transaction runs with a short GIL switch interval (hub.core.switch_interval): every round trip to
PostgreSQL releases the GIL, and the leader, with every request queued behind it, should not wait up to
5 ms to get it back while a request thread parses a message. (Paired load runs on PostgreSQL, with and
without: more messages per second in 10 of 12 pairs, +22% and +9% at the median of two series, and 13-14%
less CPU per message.) On SQLite the writer lock does the same for as long as it is held.

A batch of nothing but inserts (`insert`, the webhook's common case: a message with no reply and nothing
else to record) needs no transaction around its one INSERT statement, which is atomic by itself. It runs in
autocommit mode: no BEGIN and no COMMIT statement, which on SQLite are two steps fewer while this process
holds the writer lock (each step lets another thread take the GIL), and on PostgreSQL two round trips fewer.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import IntegrityError

from hub.core import metrics
from hub.core.prepared import BoundRow, PreparedInsert
from hub.core.state import HubState
from hub.core.switch_interval import short_switch_interval

T = TypeVar("T")

MAX_BATCH = 32  # caps how long one transaction holds the writer lock (a few ms)
IDLE_SECONDS = 5.0  # a leaders' connection unused for longer goes back to the pool (and its pre-ping)


class _Job(Generic[T]):
    __slots__ = ("work", "row", "_wake", "lead", "result", "error")

    def __init__(self, work: Callable[[Connection, int], T] | None, row: BoundRow | None) -> None:
        self.work = work  # called with the new key of `row` (0 without a row); None: the key is the result
        self.row = row
        self._wake = threading.Lock()  # held until the job is done or leads (cheaper than an Event)
        self._wake.acquire()
        self.lead = False  # woken to lead the next transaction, not because the work is done
        self.result: T | None = None
        self.error: BaseException | None = None

    def wait(self) -> None:
        self._wake.acquire()

    def wake(self) -> None:
        if self._wake.locked():
            self._wake.release()

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class GroupCommit:
    def __init__(self, engine: Engine, max_batch: int = MAX_BATCH) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._mutex = threading.Lock()
        self._queue: list[_Job] = []
        self._busy = False  # a request is leading a transaction
        self._conn: Connection | None = None  # the leaders' connection (only the leader touches it)
        self._conn_pid = 0
        self._last_used = 0.0

    def run(self, work: Callable[[Connection], T]) -> T:
        """Run `work(connection)` in a transaction, shared with concurrent callers; returns once committed."""
        return self._run(_Job(lambda conn, _key: work(conn), None))

    def run_after_insert(self, row: BoundRow, work: Callable[[Connection, int], T]) -> T:
        """Insert `row`, then run `work(connection, its new key)`, in a shared transaction as `run` does.

        A shared transaction inserts the rows of all its callers first, in one statement per table where
        the database allows (see PreparedInsert.insert_rows), then runs their work in order."""
        return self._run(_Job(work, row))

    def insert(self, row: BoundRow) -> int:
        """Insert `row` and return its new key once committed, sharing the statement with concurrent callers."""
        return self._run(_Job(None, row))

    def _run(self, job: _Job[T]) -> T:
        with self._mutex:
            self._queue.append(job)
            lead = not self._busy
            self._busy = True
        if not lead:
            job.wait()
            if not job.lead:
                return job.outcome()
        with self._mutex:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch:]
        try:
            self._write(batch)
        finally:
            with self._mutex:
                if self._queue:  # hand the lead to the first request that queued meanwhile
                    nxt = self._queue[0]
                    nxt.lead = True
                    nxt.wake()
                else:
                    self._busy = False
        return job.outcome()

    def _write(self, batch: list[_Job]) -> None:
        try:
            with self._write_path():
                self._write_all(batch)
            metrics.GROUP_COMMIT_SIZE.observe(len(batch))
        except BaseException as exc:  # e.g. the process is shutting down: nobody may wait forever
            for job in batch:
                if job.error is None and job.result is None:
                    job.error = exc
            raise
        finally:
            for job in batch:
                job.lead = False
                job.wake()

    def _write_path(self) -> contextlib.AbstractContextManager[None]:
        """The short switch interval for the transaction; SQLite's writer lock sets it itself, for as long as
        it holds the lock (hub.core.sqlite_writer)."""
        if self.engine.dialect.name == "sqlite":
            return contextlib.nullcontext()
        return short_switch_interval.held()

    def _write_all(self, batch: list[_Job]) -> None:
        if len(batch) > 1:
            try:
                self._together(batch)
            except Exception:
                metrics.GROUP_COMMIT_SPLITS.inc()
                for job in batch:
                    self._alone(job)
        else:
            self._alone(batch[0])

    def _together(self, batch: list[_Job]) -> None:
        with self._transaction(_inserts_only(self.engine.dialect, batch)) as conn:
            keys = _insert_rows(conn, batch)
            results = [_finish(job, conn, keys.get(id(job), 0)) for job in batch]
        for job, result in zip(batch, results, strict=True):
            job.result = result

    def _alone(self, job: _Job) -> None:
        try:
            with self._transaction(_inserts_only(self.engine.dialect, [job])) as conn:
                key = job.row.insert.run_bound(conn, job.row.parameters) if job.row else 0
                job.result = _finish(job, conn, key)
        except Exception as exc:
            job.error = exc

    @contextlib.contextmanager
    def _transaction(self, autocommit: bool = False) -> Iterator[Connection]:
        """The leaders' connection in a transaction, or in autocommit mode for a batch of one statement."""
        if self._conn_pid != os.getpid():
            self._conn = None  # a parent's connection is left alone, not closed
        elif self._conn is not None and time.monotonic() - self._last_used > IDLE_SECONDS:
            self._drop()
        conn = self._conn
        if conn is None or conn.closed or conn.invalidated:
            conn = self._conn = self.engine.connect()
            self._conn_pid = os.getpid()
        try:
            with _autocommit(conn) if autocommit else conn.begin():
                yield conn
        except BaseException as exc:
            # Nothing rolls back after a statement in autocommit mode, and the rollback is where SQLAlchemy
            # notices a dead connection: there, any failure but a constraint's drops the connection.
            if not isinstance(exc, Exception) or _connection_lost(conn, exc) or (
                    autocommit and not isinstance(exc, IntegrityError)):
                self._drop()
            raise
        finally:
            self._last_used = time.monotonic()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        """Return the leaders' connection to the pool (the next transaction opens another)."""
        with self._mutex:
            if not self._busy:
                self._drop()


def _inserts_only(dialect: Dialect, batch: list[_Job]) -> bool:
    """Whether the batch is one INSERT statement and nothing else (see _insert_rows)."""
    if any(job.work is not None or job.row is None for job in batch):
        return False
    inserts = {job.row.insert for job in batch}
    return len(inserts) == 1 and inserts.pop().one_statement(dialect, [job.row.parameters for job in batch])


def _finish(job: _Job[T], conn: Connection, key: int) -> T:
    return job.work(conn, key) if job.work is not None else key  # type: ignore[return-value]


@contextlib.contextmanager
def _autocommit(conn: Connection) -> Iterator[None]:
    """The DB-API connection in autocommit mode for the duration: each statement commits by itself."""
    dbapi = conn.connection.driver_connection
    if conn.dialect.name == "sqlite":
        saved = dbapi.isolation_level  # type: ignore[union-attr]
        dbapi.isolation_level = None  # type: ignore[union-attr]
        try:
            yield
        finally:
            dbapi.isolation_level = saved  # type: ignore[union-attr]
    else:
        dbapi.autocommit = True  # type: ignore[union-attr]
        try:
            yield
        finally:
            if not dbapi.closed:  # type: ignore[union-attr]  # a closed one is dropped (see _transaction)
                dbapi.autocommit = False  # type: ignore[union-attr]


def _insert_rows(conn: Connection, batch: list[_Job]) -> dict[int, int]:
    """The rows of a batch's jobs, inserted a statement per table; the new keys by id(job)."""
    by_insert: dict[PreparedInsert, list[_Job]] = {}
    for job in batch:
        if job.row is not None:
            by_insert.setdefault(job.row.insert, []).append(job)
    keys: dict[int, int] = {}
    for insert, jobs in by_insert.items():
        new_keys = insert.insert_rows(conn, [job.row.parameters for job in jobs])
        keys.update(zip(map(id, jobs), new_keys, strict=True))
    return keys


def _connection_lost(conn: Connection, exc: BaseException) -> bool:
    return conn.invalidated or conn.closed or bool(getattr(exc, "connection_invalidated", False))


def shared_group_commit(state: HubState) -> GroupCommit:
    """The group commit of this process's webhook writes (the leaders share one connection)."""
    committer = state.caches.get("group_commit")
    if committer is None:
        committer = state.caches.setdefault("group_commit", GroupCommit(state.engine))
    return committer
