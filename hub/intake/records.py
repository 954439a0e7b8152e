"""The intake journal's file format (see hub.intake.journal): a header line, then a JSON line per row."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Dialect

from hub.core.prepared import PreparedInsert

log = logging.getLogger("hub.intake.journal")


def _encode(value: Any) -> str:
    if isinstance(value, datetime):  # PostgreSQL's driver takes datetimes; the column casts the text back
        return value.isoformat()
    raise TypeError(f"cannot journal a {type(value).__name__}")


Record = tuple[Any, Any]  # a row's bound parameters, and what to write after inserting it (or None)
AfterInsert = Callable[[Connection, int, dict[str, Any], Any], None]


class JournalRows:
    """Journal lines: a header naming the columns, then one line per row: {"p": its DB-API parameters as the
    webhook bound them (SQLite: a list in column order; PostgreSQL: an object), "a": what to write after
    inserting it, if anything}. Loading is parsing and inserting."""

    def __init__(self, insert: PreparedInsert, dialect: Dialect) -> None:
        self.insert = insert
        self.columns = list(insert.parameter_names(dialect))

    def header(self, columns: list[str] | None = None) -> bytes:
        return json.dumps({"columns": columns or self.columns}).encode() + b"\n"

    def encode(self, parameters: Any, after: Any = None) -> bytes:
        record = {"p": parameters} if after is None else {"p": parameters, "a": after}
        return json.dumps(record, default=_encode, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"

    def decode(self, line: bytes) -> Record:
        record = json.loads(line)
        return record["p"], record.get("a")

    def reader(self, header: bytes) -> Callable[[bytes], Record]:
        """Decodes the records of a file with `header` into parameters for this version's statement."""
        columns = json.loads(header)["columns"]
        if columns == self.columns:
            return self.decode
        log.warning("intake journal written with other columns, mapping them by name",
                    extra={"missing": sorted(set(self.columns) - set(columns))})

        def remap(line: bytes) -> Record:
            row, after = self.decode(line)
            by_name = dict(zip(columns, row, strict=True)) if isinstance(row, list) else row
            values = [by_name.get(name) for name in self.columns]  # a column added since: NULL
            return (values if isinstance(row, list) else dict(zip(self.columns, values, strict=True))), after

        return remap

    def named(self, row: Any) -> dict[str, Any]:
        return dict(zip(self.columns, row, strict=True)) if isinstance(row, list) else dict(row)
