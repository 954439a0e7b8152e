"""Writers to one SQLite file queue on a file lock instead of SQLite's busy handler.

SQLite lets one writer in at a time; the others retry after sleeping 1, 2, 5, 10, 15, 20, 25... ms. Under a
webhook's load that sleep, not the work, bounds throughput: most of the server sits idle while writers nap.
Each connection therefore takes an exclusive `flock` on `<database>.writer` before its first write statement
and drops it when the transaction ends. A blocked writer waits in the kernel (without the GIL) and wakes the
moment the lock is free. The lock is per connection (its own open file), so threads of one process exclude
each other as processes do, and the kernel drops it if a process dies. Reads never take it (WAL).
While a thread of the process holds the lock, the GIL switch interval is short (hub.core.switch_interval).

A thread that already holds the lock through one connection and writes through a second one does not wait
for itself: the second connection goes straight to SQLite, whose busy timeout reports the conflict.

Checkpoints (copying the write-ahead log back into the database file, with two fsyncs) are moved out of
the writer lock too. SQLite runs one inside whichever commit pushes the log past 1,000 pages, and every
other writer waits for its disk flushes; under load that made the lock, not the CPU, the limit. The
hub's connections turn that off (`wal_autocheckpoint=0`, see hub.core.db). A connection that has just
committed and released the lock and finds the log grown past CHECKPOINT_BYTES wakes a checkpoint thread
(one per database and process, with its own connection): the bulk of the copying and syncing runs while
writers carry on, then a short final step under the lock. The commit returns at once, so no request
waits for a checkpoint's disk flushes (they took 0.1-0.4 s on a busy disk).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hub.core.switch_interval import short_switch_interval

log = logging.getLogger("hub.core.sqlite_writer")
_READ_ONLY = ("SELECT", "PRAGMA", "EXPLAIN")
CHECKPOINT_BYTES = 4 * 1024 * 1024  # about SQLite's own 1,000 pages
CHECK_INTERVAL_SECONDS = 0.2  # how often (per process) a commit looks at the log's size
_held_by_thread = threading.local()  # how many writer locks this thread holds


def _writes(sql: str) -> bool:
    return not sql.lstrip()[:7].upper().startswith(_READ_ONLY)


class _WriterLock:
    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.held = False
        self._locked = False  # held without the flock: this thread held another connection's lock

    def acquire(self) -> None:
        if self.held:
            return
        count = getattr(_held_by_thread, "count", 0)
        if count == 0:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            self._locked = True
            short_switch_interval.enter()
        _held_by_thread.count = count + 1
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            _held_by_thread.count = max(0, getattr(_held_by_thread, "count", 0) - 1)
            if self._locked:
                self._locked = False
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                short_switch_interval.exit()

    def close(self) -> None:
        self.release()
        os.close(self._fd)


class _Checkpoints:
    """When this process last looked at the size of a database's write-ahead log."""

    def __init__(self, wal_path: str) -> None:
        self.wal_path = wal_path
        self._checked = 0.0

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._checked < CHECK_INTERVAL_SECONDS:
            return False
        self._checked = now
        try:
            return os.stat(self.wal_path).st_size > CHECKPOINT_BYTES
        except OSError:
            return False


def checkpoint(connection: sqlite3.Connection) -> None:
    """Copy the log into the database in two PASSIVE steps (each copies what it can without waiting).

    The first runs without the writer lock: it copies and syncs the bulk of the log while writers carry
    on. Writers append meanwhile, so it never reaches the end of the log, and a log that is never fully
    copied is never started over: it would grow without bound (and slow every read). The second runs
    under the writer lock and copies only what was written during the first, so the log is complete and
    the next writer starts it from the beginning. If another process is checkpointing, either step may
    find nothing to do."""
    run = sqlite3.Connection.execute
    with contextlib.suppress(sqlite3.Error):
        run(connection, "PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    lock: _WriterLock = connection.writer_lock  # type: ignore[attr-defined]
    lock.acquire()
    try:
        with contextlib.suppress(sqlite3.Error):
            run(connection, "PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    finally:
        lock.release()


class _Checkpointer:
    """The checkpoint thread of one database in this process; started on first request (and again in a
    forked child, which inherits no threads)."""

    def __init__(self, database: str, factory: Callable[[], type[sqlite3.Connection]]) -> None:
        self.database = database
        self._factory = factory
        self._guard = threading.Lock()
        self._wake = threading.Event()
        self._pid = 0
        self.done = 0  # checkpoints run by this process (tests wait on it)

    def request(self) -> None:
        if self._pid != os.getpid():
            with self._guard:
                if self._pid != os.getpid():
                    self._wake = threading.Event()
                    threading.Thread(target=self._run, args=(self._wake,), name="sqlite-checkpoint",
                                     daemon=True).start()
                    self._pid = os.getpid()
        self._wake.set()

    def _run(self, wake: threading.Event) -> None:
        connection: sqlite3.Connection | None = None
        while True:
            wake.wait()
            wake.clear()  # a request from here on runs another checkpoint after this one
            try:
                if connection is None:
                    connection = sqlite3.connect(self.database, timeout=30, factory=self._factory(),
                                                 check_same_thread=False)
                    connection.execute(f"PRAGMA journal_size_limit={CHECKPOINT_BYTES}")
                checkpoint(connection)
            except Exception:  # the next commit asks again; the log only grows meanwhile
                log.exception("checkpoint failed", extra={"database": self.database})
                if connection is not None:
                    with contextlib.suppress(Exception):
                        connection.close()
                connection = None
            self.done += 1


def connection_factory(database: Path) -> type[sqlite3.Connection]:
    """A sqlite3.Connection class (for `sqlite3.connect(factory=...)`) whose writes take the writer lock."""
    lock_path = str(database) + ".writer"
    checkpoints = _Checkpoints(str(database) + "-wal")
    checkpointer = _Checkpointer(str(database), lambda: WriterLockedConnection)

    class WriterLockedCursor(sqlite3.Cursor):
        def _run(self, run: Callable[[str, Any], sqlite3.Cursor], sql: str, parameters: Any) -> sqlite3.Cursor:
            connection: WriterLockedConnection = self.connection  # type: ignore[assignment]
            if _writes(sql):
                connection.writer_lock.acquire()
            try:
                return run(sql, parameters)
            finally:
                # A statement outside a transaction (DDL, or one that failed) commits or ends by itself.
                if not connection.in_transaction:
                    connection.writer_lock.release()

        def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
            return self._run(super().execute, sql, parameters)

        def executemany(self, sql: str, seq_of_parameters: Any, /) -> sqlite3.Cursor:
            return self._run(super().executemany, sql, seq_of_parameters)

    class WriterLockedConnection(sqlite3.Connection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.writer_lock = _WriterLock(lock_path)

        def cursor(self, factory: Any = WriterLockedCursor) -> sqlite3.Cursor:  # type: ignore[override]
            return super().cursor(factory)

        def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
            return self.cursor().execute(sql, parameters)

        def _end(self, end: Callable[[], None], release: Callable[[], None]) -> None:
            try:
                end()
            finally:
                release()

        def commit(self) -> None:
            self._end(super().commit, self.writer_lock.release)
            if checkpoints.due():
                checkpointer.request()

        def rollback(self) -> None:
            self._end(super().rollback, self.writer_lock.release)

        def close(self) -> None:
            self._end(super().close, self.writer_lock.close)

    WriterLockedConnection.checkpointer = checkpointer  # type: ignore[attr-defined]
    return WriterLockedConnection
