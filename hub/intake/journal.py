"""The intake journal: the webhook acknowledges a message once it is appended to a file, and a loader thread
moves the file into the database in batches.

Most webhook messages need their own row written and, at most, their passive reply: no subscribe state, and
activity already recorded this minute. Writing those while the request waited was most of the webhook's
cost under load: the statements, the writer lock, and the thread hand-offs around a transaction that
concurrent requests share. Appending a line to a file is one `write` with no lock to wait for; the loader
inserts many rows per statement. Messages that change the fan's identity (subscribe, unsubscribe, activity
a minute old) are still written directly. (Paired load runs on SQLite, bench/webhook_ab.py, against the
direct writes: more messages per second in 6 of 6 pairs, +32% at the median, 15% less CPU per message.)

Durability is what SQLite's own commit gives here (WAL with synchronous=NORMAL): when the webhook answers,
the record is in the operating system's page cache, so it survives the process being killed, not the
machine losing power. Exactly once holds because the database's unique key (account, external id) stays
the truth: a record loaded twice (a loader killed between its commit and moving on, a journal recovered
after a crash) or a retried delivery journaled twice loses its insert to the first and is dropped. A retry
that arrives before its first copy is loaded cannot be told apart in the webhook: it is answered with the
reply the bots decide for it again (the same, unless an operator changed a rule in between).

Rows keep their arrival order in the database (the reply right after the message it answers), and a row
reaches the database and the workers within about BATCH_WINDOW of its acknowledgement. A bot that reads
the fan's history in the webhook ("没用" right after an answer) therefore sees a message that came in more
than a few tens of milliseconds earlier.

Files: `<instance>/intake/<pid>-<random>.journal`: a header line naming the columns, then one JSON line per
row. Each file is `flock`ed by the process writing it for as long as it lives (and named only once it is
locked and has its header). A file whose lock is free belongs to a process that has gone: every loader
looks for those when it starts and every RECOVER_SECONDS, and so does the worker's sweeper; the one that
takes the lock loads the file and deletes it. A loaded file is replaced by a fresh one once it passes
ROTATE_BYTES. A row the database refuses for good (say its fan
was deleted meanwhile) is kept in `<instance>/intake/rejected.jsonl` and logged, never dropped.

The journal is on by default on SQLite, where the database is a file on the same disk. With PostgreSQL and
web processes on several machines, a record would wait on a machine's disk until a hub process on that
machine starts again, so there it is off unless `HUB_INTAKE_JOURNAL=on`.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from hub.core.config import truthy
from hub.core.prepared import PreparedInsert
from hub.core.state import HubState
from hub.intake import inbox
from hub.intake.loader import JournalLoader
from hub.intake.records import AfterInsert, JournalRows, Record

log = logging.getLogger("hub.intake.journal")

DIRECTORY = "intake"
SUFFIX = ".journal"
BATCH_WINDOW_SECONDS = 0.02  # the loader waits this long after a record so that concurrent ones share a batch
READ_BYTES = 1 << 20
ROTATE_BYTES = 1 << 20  # a fully loaded journal past this size is replaced by a fresh file
RECOVER_SECONDS = 30.0
RETRY_SECONDS = 1.0  # after the database failed a batch (it is tried again; nothing is dropped)


def enabled(state: HubState) -> bool:
    if state.config.intake_journal.lower() == "auto":
        return state.engine.dialect.name == "sqlite"
    return truthy(state.config.intake_journal)


class IntakeJournal:
    """This process's journal for one table (the inbound messages) and the thread that loads it."""

    def __init__(self, state: HubState, insert: PreparedInsert, after_insert: AfterInsert) -> None:
        self.state = state
        self.rows = JournalRows(insert, state.engine.dialect)
        self.directory = Path(state.config.instance_path) / DIRECTORY
        self.loader = JournalLoader(state, self.rows, after_insert, self.directory / "rejected.jsonl")
        self._lock = threading.Lock()  # appends (each one write) against rotation
        self._progress = threading.Condition()
        self._wake = threading.Event()
        self._pid = 0
        self._broken = False  # a failed write could not be undone: this process stores directly
        self._fd = -1
        self._path: Path | None = None
        self._written = 0  # bytes in the current file
        self._loaded = 0  # bytes of it loaded into the database
        self._last_recovery = 0.0

    # -- the request's side ------------------------------------------------------------------------------

    def append(self, parameters: Any, after: Any = None) -> bool:
        """Journal one row, bound by the insert's `bind`, and `after` (JSON) for `after_insert` to write in the
        same transaction; False when it could not be (the caller then writes to the database itself)."""
        data = self.rows.encode(parameters, after)
        with self._lock:
            if self._pid != os.getpid():
                self._start()
            if self._broken:
                return False
            try:
                written = os.write(self._fd, data)
                if written != len(data):
                    raise OSError(f"short write ({written} of {len(data)} bytes)")
            except OSError as exc:
                self._undo_write(exc)
                return False
            self._written += written
        if not self._wake.is_set():
            self._wake.set()
        return True

    def _undo_write(self, exc: OSError) -> None:
        """Cut a partly written record off (a full disk), so that the next record starts a line of its own."""
        log.error("the intake journal cannot be written, storing directly", extra={"error": str(exc)})
        try:
            os.ftruncate(self._fd, self._written)
        except OSError:
            log.error("the intake journal cannot be repaired, this process stops journaling",
                      extra={"path": str(self._path)})
            self._broken = True

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything this process journaled so far is in the database and handed to the inbox."""
        with self._progress:
            done = self._progress.wait_for(lambda: self._pid != os.getpid() or self._loaded >= self._written,
                                           timeout)
        return done and inbox.pusher(self.state).flush(timeout)

    # -- files -------------------------------------------------------------------------------------------

    def _start(self) -> None:
        """First use in this process (a forked child starts afresh): a new file and the loader thread."""
        self._pid = os.getpid()
        self._fd, self._path, self._broken = -1, None, False
        try:
            self._open_new()
        except OSError as exc:  # say, a read-only instance directory: this process stores directly
            log.error("the intake journal cannot be created, storing directly", extra={"error": str(exc)})
            self._broken = True
            return
        self._last_recovery = 0.0  # look for the journals of processes that have gone, at once
        threading.Thread(target=self._run, name="intake-loader", daemon=True).start()
        atexit.register(self.close, 5.0)

    def close(self, timeout: float = 5.0) -> None:
        """Load what this process journaled and delete its file (a process that stops cleanly does this): a
        file left behind is loaded again by another process, every row of it a duplicate to skip."""
        loaded = self.flush(timeout)
        with self._lock:
            if self._pid != os.getpid() or self._path is None:
                return
            self._broken = True  # appends from now on (a request finishing during shutdown) store directly
            if loaded and self._loaded >= self._written:
                self._path.unlink(missing_ok=True)

    def _open_new(self) -> None:
        """Start a new file, its header written (the old file, fully loaded, is deleted)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{os.getpid()}-{secrets.token_hex(4)}"
        path, unnamed = self.directory / f"{name}{SUFFIX}", self.directory / f".{name}.new"
        fd = os.open(unnamed, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)  # while this process lives, nobody else loads this file
        header = self.rows.header()
        os.write(fd, header)
        os.rename(unnamed, path)  # only now can recovery see it: locked, and with its header
        old_fd, old_path = self._fd, self._path
        self._fd, self._path, self._written, self._loaded = fd, path, len(header), len(header)
        if old_fd >= 0 and old_path is not None:
            old_path.unlink(missing_ok=True)
            os.close(old_fd)

    # -- the loader --------------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(RECOVER_SECONDS)
            time.sleep(BATCH_WINDOW_SECONDS)
            self._wake.clear()  # records appended from here on wake it again
            try:
                self._load_own()
                self._rotate()
                if time.monotonic() - self._last_recovery >= RECOVER_SECONDS:
                    self._last_recovery = time.monotonic()
                    self.recover()
            except Exception as exc:  # the database is away: the records stay, and are tried again
                log.warning("loading the intake journal failed, retrying",
                            extra={"error": str(exc), "error_type": type(exc).__name__})
                time.sleep(RETRY_SECONDS)
                self._wake.set()

    def _load_own(self) -> None:
        with self._lock:
            path, end = self._path, self._written
        if path is None or self._loaded >= end:
            return
        with open(path, "rb") as file:
            for consumed in self._load_lines(file, self._loaded, end, self.rows.decode):
                with self._progress:
                    self._loaded = consumed
                    self._progress.notify_all()

    def _rotate(self) -> None:
        with self._lock:  # no append in between: a fully loaded file stays fully loaded
            if self._loaded >= self._written >= ROTATE_BYTES:
                self._open_new()

    def recover(self) -> int:
        """Load and delete the journals of processes that have gone; returns how many files."""
        if not self.directory.is_dir():
            return 0
        for unnamed in self.directory.glob(".*.new"):  # a process died creating it: it holds no record
            with contextlib.suppress(OSError), open(unnamed, "rb") as file:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                unnamed.unlink()
        recovered = 0
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            if path != self._path and self._recover_file(path):
                recovered += 1
                log.info("intake journal of a stopped process loaded", extra={"path": path.name})
        return recovered

    def _recover_file(self, path: Path) -> bool:
        try:
            file = open(path, "rb")  # noqa: SIM115 - closed below, after the lock is taken
        except FileNotFoundError:  # another process recovered it meanwhile
            return False
        with file:
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # its process is alive (or another one is recovering it)
                return False
            if not path.exists():  # recovered and deleted while this process opened it
                return False
            header = file.readline()
            if header.endswith(b"\n"):  # (a file is named only once its header is written)
                for _ in self._load_lines(file, len(header), None, self.rows.reader(header)):
                    pass
            path.unlink(missing_ok=True)
        return True

    def _load_lines(self, file: BinaryIO, start: int, end: int | None,
                    decode: Callable[[bytes], Record]) -> Iterator[int]:
        """Load the complete lines of `file` from byte `start` up to `end` (or its end); after each batch is
        in the database, yields the offset up to which the file is loaded."""
        offset = start
        while end is None or offset < end:
            file.seek(offset)
            data = file.read(READ_BYTES if end is None else min(READ_BYTES, end - offset))
            complete = data.rfind(b"\n") + 1
            if not complete:
                if data and (end is not None or len(data) < READ_BYTES):  # a torn last record, never answered
                    log.error("unfinished intake journal record skipped", extra={"bytes": len(data)})
                    offset += len(data)
                    yield offset
                break
            self.loader.load(data[:complete].splitlines(), decode)
            offset += complete
            yield offset


def journal_for(state: HubState, insert: PreparedInsert, after_insert: AfterInsert) -> IntakeJournal:
    """This process's journal for the rows of `insert` (one per state and table)."""
    journals: dict[str, IntakeJournal] = state.caches.setdefault("intake_journals", {})
    name = insert.plain.table.name  # type: ignore[attr-defined]
    found = journals.get(name)
    if found is None:
        found = journals.setdefault(name, IntakeJournal(state, insert, after_insert))
    return found


def flush_all(state: HubState, timeout: float = 10.0) -> bool:
    """Wait until every journal of this process is loaded (tests, `hub worker --burst`)."""
    return all(journal.flush(timeout) for journal in list(state.caches.get("intake_journals", {}).values()))
