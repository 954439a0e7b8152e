"""Audiences as operators use them: evaluate an expression (count and sample), saved audiences (named, counted
again whenever opened) and the CSV export. Pushing one to a WeChat user tag: hub.tags.audience_push."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from hub.core.db import session_scope
from hub.core.models import Fan, utcnow
from hub.core.state import HubState
from hub.tags import audience_query as aq
from hub.tags.audience_syntax import AudienceSyntaxError
from hub.tags.models import SavedAudience

MAX_NAME = 100
CSV_COLUMNS = ("fan_id", "display_name", "first_seen", "last_active", "openids", "tags")


class AudienceError(ValueError):
    """A request about audiences that cannot be done (the message says why)."""


@dataclass
class Evaluation:
    count: int
    sample: list[Fan]
    elapsed_ms: float


def evaluate(state: HubState, expression: str, sample_size: int = 20) -> Evaluation:
    """Count and sample the fans matching the expression; AudienceSyntaxError names the position of a fault."""
    started = datetime.now()
    with Session(state.engine) as session:
        audience = aq.compile_expression(session, expression, state.config.timezone)
        total = aq.count(session, audience)
        fans = aq.sample(session, audience, sample_size) if sample_size and total else []
    return Evaluation(total, fans, (datetime.now() - started).total_seconds() * 1000)


def _clean(name: str, expression: str) -> tuple[str, str]:
    name, expression = name.strip(), expression.strip()
    if not name or len(name) > MAX_NAME:
        raise AudienceError(f"an audience needs a name of 1 to {MAX_NAME} characters")
    return name, expression


def save(state: HubState, name: str, expression: str, description: str = "", user_id: int | None = None,
         audience_id: int | None = None) -> SavedAudience:
    """Create (or, with audience_id, change) a saved audience; the expression must parse and name real tags."""
    name, expression = _clean(name, expression)
    counted = evaluate(state, expression, sample_size=0).count  # raises AudienceSyntaxError
    with session_scope(state.engine) as session:
        other = session.scalar(select(SavedAudience).where(SavedAudience.name == name))
        if other is not None and other.id != audience_id:
            raise AudienceError(f"an audience named {name!r} exists already")
        row = SavedAudience(name=name, expression=expression, created_by=user_id) if audience_id is None else \
            session.get(SavedAudience, audience_id)
        if row is None:
            raise LookupError(f"no saved audience {audience_id}")
        row.name, row.expression, row.description = name, expression, description.strip()[:500]
        row.last_count, row.last_counted_at, row.updated_at = counted, utcnow(), utcnow()
        session.add(row)
        session.flush()
        session.refresh(row)
        return row


def saved(state: HubState) -> list[SavedAudience]:
    with Session(state.engine) as session:
        return list(session.scalars(select(SavedAudience).order_by(col(SavedAudience.name))).all())


def get(state: HubState, audience_id: int) -> SavedAudience | None:
    with Session(state.engine, expire_on_commit=False) as session:
        return session.get(SavedAudience, audience_id)


def reopen(state: HubState, audience_id: int, sample_size: int = 20) -> tuple[SavedAudience, Evaluation]:
    """A saved audience counted again now (the stored count follows)."""
    row = get(state, audience_id)
    if row is None:
        raise LookupError(f"no saved audience {audience_id}")
    result = evaluate(state, row.expression, sample_size)
    with session_scope(state.engine) as session:
        stored = session.get(SavedAudience, audience_id)
        if stored is not None:
            stored.last_count, stored.last_counted_at = result.count, utcnow()
            session.add(stored)
            row = stored
    return row, result


def delete(state: HubState, audience_id: int) -> bool:
    with session_scope(state.engine) as session:
        row = session.get(SavedAudience, audience_id)
        if row is None:
            return False
        session.delete(row)
        return True


def _safe_cell(value: Any) -> str:
    """A cell a spreadsheet will not run as a formula (fan names are the fans' own text)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def export_csv(state: HubState, expression: str, chunk: int = 5000) -> tuple[int, Iterator[str]]:
    """(the number of fans, the CSV text in pieces): a header, then one row per fan in id order."""
    with Session(state.engine) as session:
        total = aq.count(session, aq.compile_expression(session, expression, state.config.timezone))

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        with state.engine.connect() as conn, Session(state.engine) as session:
            audience = aq.compile_expression(session, expression, state.config.timezone)
            for part in aq.iterate(conn, audience, chunk):
                writer.writerows(_row(row) for row in part)
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()

    return total, rows()


def _row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    fan_id, name, created, seen, openids, tags = row
    return fan_id, _safe_cell(name), created, seen, openids, _safe_cell(tags)


def fans_total(state: HubState) -> int:
    with Session(state.engine) as session:
        return int(session.scalar(select(func.count()).select_from(Fan).where(col(Fan.merged_into_id).is_(None)))
                   or 0)


__all__ = ["AudienceError", "AudienceSyntaxError", "Evaluation", "delete", "evaluate", "export_csv",
           "fans_total", "get", "reopen", "save", "saved"]

