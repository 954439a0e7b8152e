"""Loading intake journal lines into the database (see hub.intake.journal): many rows per statement, in
journal order, each with what follows it; duplicates skipped, refused rows kept aside."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Table, and_, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from hub.core import metrics
from hub.core.state import HubState
from hub.intake import inbox
from hub.intake.group_commit import shared_group_commit
from hub.intake.records import AfterInsert, JournalRows, Record

log = logging.getLogger("hub.intake.journal")

CHUNK = 200  # rows per INSERT statement


class JournalLoader:
    def __init__(self, state: HubState, rows: JournalRows, after_insert: AfterInsert, rejected: Path) -> None:
        self.state = state
        self.rows = rows
        self.after_insert = after_insert  # (connection, new key, the row by column, the record's "a")
        self.table: Table = rows.insert.plain.table  # type: ignore[assignment]
        self.natural_key = rows.insert.natural_key  # the unique key that makes a second copy a duplicate
        self.rejected = rejected  # where rows the database refuses for good are kept

    def load(self, lines: list[bytes], decode: Callable[[bytes], Record]) -> None:
        """Insert the records of journal `lines`, CHUNK rows a statement, and hand their ids to the inbox.
        Raises when the database is unreachable (nothing of the failed chunk is lost: it is loaded again)."""
        records = []
        for line in lines:
            try:
                records.append(decode(line))
            except (ValueError, KeyError, TypeError) as exc:
                self._reject(line, exc)
        for start in range(0, len(records), CHUNK):
            self._insert(records[start:start + CHUNK])

    def _write(self, conn: Connection, records: list[Record]) -> list[int]:
        """Insert the rows of `records` and what follows each, in `conn`'s transaction and in journal order
        (keys follow arrival: "the answer before this message" is found by key), one statement for each run
        of rows up to one with something to follow."""
        ids: list[int] = []
        start = 0
        for end, (row, after) in enumerate(records, 1):
            if after is not None or end == len(records):
                ids += self.rows.insert.insert_rows(conn, [row for row, _ in records[start:end]])
                start = end
                if after is not None:
                    self.after_insert(conn, ids[-1], self.rows.named(row), after)
        return ids

    def _insert(self, records: list[Record]) -> None:
        committer = shared_group_commit(self.state)  # the same writer as the webhook's direct inserts
        try:
            ids = committer.run(lambda conn: self._write(conn, records))
        except DBAPIError as exc:
            if _transient(exc):
                raise
            ids, duplicates = [], 0  # a row was loaded before, or a retry was journaled twice: one by one
            for record in records:
                try:
                    ids += committer.run(lambda conn, record=record: self._write(conn, [record]))
                except DBAPIError as row_exc:
                    if _transient(row_exc):
                        raise
                    duplicates += self._refused(record, row_exc)
            if duplicates:
                metrics.INTAKE_JOURNAL_ROWS.labels("duplicate").inc(duplicates)
                log.info("duplicates in the intake journal skipped", extra={"rows": duplicates})
        metrics.INTAKE_JOURNAL_ROWS.labels("stored").inc(len(ids))
        inbox.pusher(self.state).push_many(ids)

    def _refused(self, record: Record, exc: DBAPIError) -> bool:
        """Whether the refused row is a duplicate; any other row is kept aside."""
        row, after = record
        if isinstance(exc, IntegrityError) and self._exists(row):
            return True
        self._reject(self.rows.encode(self.rows.named(row), after), exc)
        return False

    def _exists(self, row: Any) -> bool:
        named = self.rows.named(row)
        condition = and_(*(self.table.c[key] == named[key] for key in self.natural_key))
        with self.state.engine.connect() as conn:
            return bool(conn.scalar(select(func.count()).select_from(self.table).where(condition)))

    def _reject(self, line: bytes, exc: Exception) -> None:
        """A record the database refuses for good: kept in rejected.jsonl for an operator, never dropped."""
        metrics.INTAKE_JOURNAL_ROWS.labels("rejected").inc()
        log.error("intake journal record refused, kept in rejected.jsonl",
                  extra={"error": str(exc), "error_type": type(exc).__name__})
        with open(self.rejected, "ab") as rejected:
            rejected.write(line.rstrip(b"\n") + b"\n")


def _transient(exc: DBAPIError) -> bool:
    """Errors that say the database is unreachable or busy, not that it refuses the row."""
    return isinstance(exc, OperationalError | InterfaceError) or bool(exc.connection_invalidated)
