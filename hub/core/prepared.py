"""Statements on the webhook's hot path, compiled once per dialect and run on the DB-API cursor.

Executing through SQLAlchemy's Connection.execute costs more CPU than the SQL it runs on SQLite (cache key,
execution context, result wrapping): about 0.05 ms a statement, a tenth of what a webhook may spend. A
PreparedStatement keeps SQLAlchemy for what it is good at here (the SQL text for each dialect, its
parameter order and each column type's bind processor) and runs the statement on the cursor of the
Connection's own DB-API connection, inside that Connection's transaction. DB-API errors are raised as
SQLAlchemy's (IntegrityError, OperationalError...) as if Connection.execute had run it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, insert
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

_NAMED = re.compile(r"%\((\w+)\)s")  # a named parameter in psycopg2's style


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    positional: bool
    returns_rows: bool
    lastrowid: bool = False  # the statement's result is the cursor's lastrowid (see PreparedInsert)

    def result(self, cursor: Any) -> Any:
        """What running the statement returns: the new key, the first column of the first row, or the row count."""
        if self.lastrowid:
            return cursor.lastrowid
        if self.returns_rows:
            row = cursor.fetchone()
            return row[0] if row else None
        return cursor.rowcount

    def parameters(self, values: Mapping[str, Any]) -> Any:
        bound = [proc(values[name]) if proc else values[name]
                 for name, proc in zip(self.names, self.processors, strict=True)]
        return bound if self.positional else dict(zip(self.names, bound, strict=True))


class PreparedStatement:
    """A Core statement whose parameters are all named `bindparam`s, run on the DB-API cursor of a Connection.

    Every parameter must be given a value (an INSERT binds all the columns it names, defaults included).
    """

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._by_dialect: dict[str, _Compiled] = {}

    def _statement_for(self, dialect: Dialect) -> tuple[Executable, bool]:
        """The statement to compile for `dialect`, and whether its result is the cursor's lastrowid."""
        return self.statement, False

    def _compiled(self, dialect: Dialect) -> _Compiled:
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            statement, lastrowid = self._statement_for(dialect)
            sql = statement.compile(dialect=dialect)
            names = tuple(sql.positiontup) if sql.positional else tuple(sql.bind_names.values())
            processors = tuple(sql.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names)
            compiled = _Compiled(sql.string, names, processors, bool(sql.positional), bool(sql.effective_returning),
                                 lastrowid)
            self._by_dialect[dialect.name] = compiled
        return compiled

    def bind(self, dialect: Dialect, values: Mapping[str, Any]) -> Any:
        """The DB-API parameters for `values`: work that can be done before the transaction begins."""
        return self._compiled(dialect).parameters(values)

    def parameter_names(self, dialect: Dialect) -> tuple[str, ...]:
        """The names of the parameters `bind` gives, in order (a positional dialect's list follows it)."""
        return self._compiled(dialect).names

    def run(self, conn: Connection | Session, values: Mapping[str, Any]) -> Any:
        """Execute in `conn`'s transaction; returns the first column of the first row it returns, if any."""
        if isinstance(conn, Session):
            conn = conn.connection()
        return self.run_bound(conn, self.bind(conn.dialect, values))

    def run_bound(self, conn: Connection, parameters: Any) -> Any:
        """`run` with parameters from `bind` (for the same dialect)."""
        compiled = self._compiled(conn.dialect)
        return _execute(conn, compiled.sql, parameters, compiled.result)


def _execute(conn: Connection, sql: str, parameters: Any, result: Callable[[Any], Any]) -> Any:
    """Run `sql` on a cursor of `conn`'s DB-API connection; `result(cursor)` is what it returns."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, parameters)
        return result(cursor)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(sql, parameters, exc, conn.dialect.loaded_dbapi.Error,
                                  dialect=conn.dialect) from exc
    finally:
        cursor.close()


class PreparedInsert(PreparedStatement):
    """INSERT of one row binding every column but the primary key; `run` returns the new primary key.

    On SQLite the key comes from the cursor's lastrowid rather than RETURNING: reading a returned row costs
    the sqlite3 module another step, and each step lets other threads take the GIL while this one holds
    the database's writer lock (a measured 5-7% of the webhook's CPU under load). PostgreSQL uses RETURNING.
    """

    def __init__(self, table: Table, natural_key: Sequence[str] = ()) -> None:
        (self.key,) = table.primary_key.columns
        self._multi_row: dict[tuple[str, int], str] = {}
        self.plain = insert(table).values(
            {c.name: bindparam(c.name, type_=c.type) for c in table.c if c is not self.key})
        super().__init__(self.plain.returning(self.key))
        # Columns that tell the rows of one batch apart: PostgreSQL then inserts a batch in one statement.
        self.natural_key = tuple(natural_key)
        self._keyed = PreparedStatement(self.plain.returning(self.key, *(table.c[n] for n in self.natural_key)))

    def _statement_for(self, dialect: Dialect) -> tuple[Executable, bool]:
        if dialect.name == "sqlite":
            return self.plain, True
        return self.statement, False

    def row(self, dialect: Dialect, values: Mapping[str, Any]) -> BoundRow:
        """A row bound in advance, for `insert_rows` (or `run_bound`) in a later transaction."""
        return BoundRow(self, self.bind(dialect, values))

    def insert_rows(self, conn: Connection, rows: Sequence[Any]) -> list[int]:
        """Insert rows bound by `bind`; returns their new keys, in order.

        On SQLite one multi-row INSERT does it in a single step (see the class docstring for why steps
        count). SQLite gives each row the table's largest key plus one, row after row, so the keys are the
        `len(rows)` numbers ending at lastrowid. (Only a table whose largest key had reached 2**63 - 1
        would make it pick keys at random.)

        PostgreSQL does not promise the order of a multi-row INSERT's RETURNING, so it returns each row's
        natural key with its new key, and that tells which is whose. Without a natural key, or when some
        rows lack one, PostgreSQL inserts row by row."""
        if len(rows) == 1:
            return [self.run_bound(conn, rows[0])]
        if conn.dialect.name == "sqlite":
            return self._insert_rows_sqlite(conn, rows)
        natural = self._natural_keys(conn.dialect, rows)
        if natural is not None:
            return self._insert_rows_keyed(conn, rows, natural)
        return [self.run_bound(conn, row) for row in rows]

    def one_statement(self, dialect: Dialect, rows: Sequence[Any]) -> bool:
        """Whether `insert_rows` inserts these rows in a single statement (which is atomic by itself)."""
        return len(rows) == 1 or dialect.name == "sqlite" or self._natural_keys(dialect, rows) is not None

    def _natural_keys(self, dialect: Dialect, rows: Sequence[Any]) -> list[tuple] | None:
        """Each row's natural key, when they tell the rows apart on PostgreSQL (else None)."""
        if dialect.name == "postgresql" and self.natural_key and isinstance(rows[0], Mapping):
            natural = [tuple(row[name] for name in self.natural_key) for row in rows]
            if len(set(natural)) == len(rows) and not any(None in key for key in natural):
                return natural
        return None

    def _insert_rows_sqlite(self, conn: Connection, rows: Sequence[Any]) -> list[int]:
        sql = self._multi_row_sql(conn.dialect, self._compiled(conn.dialect).sql, len(rows))
        last, count = _execute(conn, sql, [value for row in rows for value in row],
                               lambda cursor: (cursor.lastrowid, cursor.rowcount))
        if count != len(rows) or last is None:
            raise RuntimeError(f"cannot tell the keys of a {len(rows)}-row insert (rowcount {count}, last {last})")
        return list(range(last - len(rows) + 1, last + 1))

    def _insert_rows_keyed(self, conn: Connection, rows: Sequence[Any], natural: list[tuple]) -> list[int]:
        """One INSERT for rows bound with named parameters (psycopg2's), renamed per row."""
        sql = self._multi_row_sql(conn.dialect, self._keyed._compiled(conn.dialect).sql, len(rows))
        parameters = {f"{name}__{i}": value for i, row in enumerate(rows) for name, value in row.items()}
        returned = _execute(conn, sql, parameters, lambda cursor: cursor.fetchall())
        by_natural = {tuple(found[1:]): found[0] for found in returned}
        keys = [by_natural.get(key) for key in natural]
        if len(returned) != len(rows) or None in keys:
            raise RuntimeError(f"cannot tell the keys of a {len(rows)}-row insert ({len(returned)} rows returned)")
        return keys  # type: ignore[return-value]

    def _multi_row_sql(self, dialect: Dialect, single: str, count: int) -> str:
        """`single` (one row's INSERT) with `count` rows; named parameters get the row's number appended."""
        sql = self._multi_row.get((dialect.name, count))
        if sql is None:
            head, values, tail = single.rpartition(" VALUES ")
            one_row, returning, clause = tail.partition(" RETURNING ")
            assert values and one_row.startswith("(") and one_row.endswith(")"), single
            rows = [_NAMED.sub(rf"%(\1__{i})s", one_row) for i in range(count)]  # SQLite's "?" stay as they are
            sql = self._multi_row[(dialect.name, count)] = head + values + ", ".join(rows) + returning + clause
        return sql


@dataclass(frozen=True, slots=True)
class BoundRow:
    """One row for a PreparedInsert, its parameters bound before the transaction that inserts it."""

    insert: PreparedInsert
    parameters: Any
