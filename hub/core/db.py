"""The database engine and sessions. SQLite (embedded default) or PostgreSQL (production)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from hub.core.config import Config
from hub.core.sqlite_writer import CHECKPOINT_BYTES, connection_factory


def make_engine(config: Config) -> Engine:
    url = config.effective_database_url
    if url.startswith("sqlite"):
        config.instance_path.mkdir(parents=True, exist_ok=True)
        connect_args: dict = {"check_same_thread": False, "timeout": 30}
        database = make_url(url).database
        file_backed = bool(database and database != ":memory:")
        if file_backed:
            connect_args["factory"] = connection_factory(Path(database).resolve())
        engine = create_engine(url, connect_args=connect_args)
        event.listen(engine, "connect", _sqlite_pragmas)
        if file_backed:  # checkpoints run after the writer lock is released (hub.core.sqlite_writer)
            event.listen(engine, "connect", _no_automatic_checkpoints)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # WAL lets the web processes read while the worker writes; NORMAL sync is safe with WAL.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _no_automatic_checkpoints(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    # SQLite reuses the log file after a checkpoint; cutting it back to CHECKPOINT_BYTES then means its
    # size says when the next checkpoint is due.
    cursor.execute(f"PRAGMA journal_size_limit={CHECKPOINT_BYTES}")
    cursor.close()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
