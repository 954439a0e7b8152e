"""Keeping the rollups up to date, incrementally.

Messages: the settled watermark (ReportState.message_id) moves forward in chunks of ids; each chunk's aggregates
are added to the final rows in the transaction that moves it (a conditional UPDATE of the watermark, so two
refreshes never add one chunk twice). A message is settled once it and every message before it is older than
SETTLE_SECONDS and processed (or stuck for an hour): by then its transaction has committed (jobs time out after
120 s; PostgreSQL may commit ids out of order) and the worker has written its interests. The messages after the
watermark are aggregated into provisional rows, replaced on every refresh, so the dashboards are exact up to now.

Tickets change after the fact (first answer, resolution, breaches, CSAT, reopening): their rollups are recomputed
from the ticket table for the last LOOKBACK_DAYS and back to the oldest ticket changed since the last refresh.
Aggregating reads run before the short write transaction (on SQLite, a write holds the database's writer lock).
Fans per interest tag are counted once per SNAPSHOT_SECONDS into this week's snapshot.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, text

from hub.reports import facts
from hub.reports.models import (
    ReportInterestDay,
    ReportInterestSnapshot,
    ReportMessageDay,
    ReportState,
    ReportSubscribeDay,
    ReportTicketDay,
)

log = logging.getLogger("hub.reports")

SETTLE_SECONDS = 180
STUCK_SECONDS = 3600  # an unprocessed message older than this no longer holds the watermark back
CHUNK_IDS = 500_000
LOOKBACK_DAYS = 7
SNAPSHOT_SECONDS = 3600
MESSAGE_TABLES = (ReportMessageDay, ReportSubscribeDay, ReportInterestDay)


@dataclass
class Outcome:
    """What one refresh did (for the job's result and the bench)."""

    finalized: int = 0  # messages added to the final rollups
    provisional: int = 0  # messages after the watermark, aggregated into provisional rows
    ticket_days: int = 0
    snapshot: bool = False
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"finalized {self.finalized}, provisional {self.provisional}, ticket days {self.ticket_days}, "
                f"snapshot {'taken' if self.snapshot else 'kept'} in {self.seconds:.2f} s")


def _aware(moment: datetime) -> datetime:
    """A time read back (naive UTC from SQLite) or given, as an aware UTC time."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def load_state(engine: Engine) -> dict[str, Any]:
    """The state row (created on first use)."""
    with engine.begin() as conn:
        row = conn.execute(text("SELECT message_id, refreshed_at, tickets_from, snapshot_at, utc_offset_minutes "
                                "FROM report_state WHERE id = 1")).first()
        if row is not None:
            return dict(row._mapping)
        # Two processes may get here at once: the second one's INSERT does nothing.
        conn.execute(text("INSERT INTO report_state (id, message_id, utc_offset_minutes) VALUES (1, 0, 0) "
                          "ON CONFLICT (id) DO NOTHING"))
    return load_state(engine)


def refresh(engine: Engine, timezone: str, *, now: datetime | None = None, snapshot: bool = True,
            settle_seconds: int = SETTLE_SECONDS) -> Outcome:
    started = time.perf_counter()
    now = _aware(now or datetime.now(UTC))
    offset = facts.utc_offset_minutes(timezone)
    st = load_state(engine)
    out = Outcome()
    if st["utc_offset_minutes"] != offset and (st["message_id"] or st["tickets_from"]):
        out.notes.append(f"the timezone's offset changed ({st['utc_offset_minutes']} → {offset} min): rebuilt")
        rebuild(engine)
        st = load_state(engine)
    d = facts.Dialect(engine.dialect.name, offset)
    with engine.begin() as conn:
        conn.execute(text("UPDATE report_state SET utc_offset_minutes = :o WHERE id = 1"), {"o": offset})
    out.finalized = _finalize(engine, d, now, settle_seconds)
    out.provisional = _provisional(engine, d, now)
    out.ticket_days = _tickets(engine, d, now, st)
    if snapshot and (st["snapshot_at"] is None or now - _aware(_dt(st["snapshot_at"])) >= timedelta(
            seconds=SNAPSHOT_SECONDS) or _week(now, offset) != _week(_aware(_dt(st["snapshot_at"])), offset)):
        take_snapshot(engine, now, offset)
        out.snapshot = True
    out.seconds = time.perf_counter() - started
    return out


def _dt(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _week(moment: datetime, offset: int) -> date:
    day = facts.local_day(moment, offset)
    return day - timedelta(days=day.weekday())


def rebuild(engine: Engine) -> None:
    """Forget every rollup; the next refresh builds them again from the raw tables."""
    with engine.begin() as conn:
        for table in (*MESSAGE_TABLES, ReportTicketDay, ReportInterestSnapshot):
            conn.execute(text(f"DELETE FROM {table.__tablename__}"))  # noqa: S608
        conn.execute(text("UPDATE report_state SET message_id = 0, tickets_from = NULL, snapshot_at = NULL, "
                          "refreshed_at = NULL WHERE id = 1"))


# -- messages ----------------------------------------------------------------------------------------------------

def _settled_bound(conn: Connection, d: facts.Dialect, watermark: int, now: datetime,
                   settle_seconds: int) -> tuple[int, int]:
    """(the id up to which messages are settled, the newest id)."""
    newest = conn.execute(text("SELECT MAX(id) FROM message")).scalar() or 0
    young = conn.execute(text(
        "SELECT MIN(id) FROM message WHERE id > :w AND (received_at >= :cutoff OR (direction = 'in' "
        "AND status IN ('received', 'processing') AND received_at >= :stuck))"),
        {"w": watermark, "cutoff": d.moment(now - timedelta(seconds=settle_seconds)),
         "stuck": d.moment(now - timedelta(seconds=STUCK_SECONDS))}).scalar()
    return (newest if young is None else young - 1), newest


def _aggregate(conn: Connection, d: facts.Dialect, lo: int, hi: int) -> dict[type, list[dict[str, Any]]]:
    params = {"lo": lo, "hi": hi}
    rows: dict[type, list[dict[str, Any]]] = {}
    rows[ReportMessageDay] = [
        {"day": _as_date(r[0]), "account_id": r[1],
         **dict(zip(facts.MESSAGE_DAY_COLUMNS, map(int, r[2:]), strict=True))}
        for r in conn.execute(text(facts.message_day_sql(d)), params)]
    rows[ReportSubscribeDay] = [
        {"day": _as_date(r[0]), "account_id": r[1], "scene": str(r[2])[:128], "subscribed": int(r[3]),
         "unsubscribed": int(r[4])} for r in conn.execute(text(facts.subscribe_day_sql(d)), params)]
    rows[ReportInterestDay] = [
        {"day": _as_date(r[0]), "account_id": r[1], "tag": str(r[2])[:64], "messages": int(r[3])}
        for r in conn.execute(text(facts.interest_day_sql(d)), params)]
    return rows


def _keys(table: type) -> list[str]:
    return [c.name for c in table.__table__.primary_key.columns if c.name != "final"]


def _figures(table: type) -> list[str]:
    return [c.name for c in table.__table__.columns if not c.primary_key]


def _merge(rows: list[dict[str, Any]], table: type) -> list[dict[str, Any]]:
    """Rows with the same key summed (a scene or tag cut to its column's length may collide)."""
    keys, figures = _keys(table), _figures(table)
    merged: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        key = tuple(row[k] for k in keys)
        if key in merged:
            for f in figures:
                merged[key][f] += row[f]
        else:
            merged[key] = dict(row)
    return list(merged.values())


def _add_final(conn: Connection, table: type, rows: list[dict[str, Any]]) -> None:
    keys, figures = _keys(table), _figures(table)
    name = table.__tablename__
    where = " AND ".join(f"{k} = :{k}" for k in keys) + " AND final = :final"
    update = text(f"UPDATE {name} SET " + ", ".join(f"{f} = {f} + :{f}" for f in figures) + f" WHERE {where}")  # noqa: S608
    columns = [*keys, "final", *figures]
    insert = text(f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})")  # noqa: S608
    for row in _merge(rows, table):
        values = {**row, "final": True}
        if conn.execute(update, values).rowcount == 0:
            conn.execute(insert, values)


def _finalize(engine: Engine, d: facts.Dialect, now: datetime, settle_seconds: int) -> int:
    done = 0
    while True:
        with engine.connect() as conn:
            watermark = conn.execute(text("SELECT message_id FROM report_state WHERE id = 1")).scalar() or 0
            settled, _ = _settled_bound(conn, d, watermark, now, settle_seconds)
            if settled <= watermark:
                return done
            hi = min(settled, watermark + CHUNK_IDS)
            rows = _aggregate(conn, d, watermark, hi)
            conn.rollback()
        with engine.begin() as conn:
            moved = conn.execute(text("UPDATE report_state SET message_id = :hi WHERE id = 1 AND message_id = :w"),
                                 {"hi": hi, "w": watermark}).rowcount
            if not moved:  # another refresh moved it meanwhile
                conn.rollback()
                continue
            for table, table_rows in rows.items():
                _add_final(conn, table, table_rows)
        done += sum(r["messages_in"] + r["messages_out"] for r in rows[ReportMessageDay])


def _provisional(engine: Engine, d: facts.Dialect, now: datetime) -> int:
    for _ in range(3):
        with engine.connect() as conn:
            watermark = conn.execute(text("SELECT message_id FROM report_state WHERE id = 1")).scalar() or 0
            newest = conn.execute(text("SELECT MAX(id) FROM message")).scalar() or 0
            rows = _aggregate(conn, d, watermark, newest)
            conn.rollback()
        with engine.begin() as conn:
            if not conn.execute(text("UPDATE report_state SET refreshed_at = :now WHERE id = 1 AND message_id = :w"),
                                {"now": d.moment(now), "w": watermark}).rowcount:
                conn.rollback()
                continue
            for table, table_rows in rows.items():
                conn.execute(text(f"DELETE FROM {table.__tablename__} WHERE final = :f"), {"f": False})  # noqa: S608
                merged = _merge(table_rows, table)
                if merged:
                    conn.execute(table.__table__.insert(), [{**r, "final": False} for r in merged])
        return sum(r["messages_in"] + r["messages_out"] for r in rows[ReportMessageDay])
    return 0


# -- tickets -----------------------------------------------------------------------------------------------------

def _tickets(engine: Engine, d: facts.Dialect, now: datetime, st: dict[str, Any]) -> int:
    today = facts.local_day(now, d.offset)
    with engine.connect() as conn:
        if st["tickets_from"] is None or st["refreshed_at"] is None:
            oldest = conn.execute(text("SELECT MIN(created_at) FROM ticket")).scalar()
            since_day = facts.local_day(_dt(oldest), d.offset) if oldest is not None else today
        else:
            since_day = today - timedelta(days=LOOKBACK_DAYS)
            changed = conn.execute(text("SELECT MIN(created_at) FROM ticket WHERE updated_at >= :t"),
                                   {"t": d.moment(_aware(_dt(st["refreshed_at"])) - timedelta(minutes=5))}).scalar()
            if changed is not None:
                since_day = min(since_day, facts.local_day(_dt(changed), d.offset))
        since_day = min(since_day, today)
        since = facts.day_start_utc(since_day, d.offset)
        merged: dict[tuple, dict[str, Any]] = defaultdict(lambda: dict.fromkeys(_figures(ReportTicketDay), 0))
        for r in conn.execute(text(facts.TICKET_EVENTS_SQL), {"since": d.moment(since)}):
            _count_ticket(merged, r, d.offset)
        conn.rollback()
    rows = [{"day": day, "account_id": account, **figures} for (day, account), figures in merged.items()
            if day >= since_day]
    with engine.begin() as conn:  # the state row first, as in take_snapshot
        conn.execute(text("UPDATE report_state SET tickets_from = :d WHERE id = 1"),
                     {"d": min(since_day, _as_date(st["tickets_from"])) if st["tickets_from"] else since_day})
        conn.execute(text("DELETE FROM report_ticket_day WHERE day >= :d"), {"d": since_day})
        if rows:
            conn.execute(ReportTicketDay.__table__.insert(), rows)
    return len({r["day"] for r in rows})


def _count_ticket(merged: dict[tuple, dict[str, Any]], row: Any, offset: int) -> None:
    """Add one ticket's events to the days they happened on (rows before the range are dropped afterwards)."""
    account, score = row[0], row[1]
    created, first, resolved, first_breach, resolution_breach = (
        None if v is None else _aware(_dt(v)) for v in row[2:])
    merged[(facts.local_day(created, offset), account)]["opened"] += 1
    if first is not None:
        figures = merged[(facts.local_day(first, offset), account)]
        figures["first_responses"] += 1
        figures["first_response_seconds"] += (first - created).total_seconds()
    if resolved is not None:
        figures = merged[(facts.local_day(resolved, offset), account)]
        figures["resolved"] += 1
        figures["resolution_seconds"] += (resolved - created).total_seconds()
        if score in (1, 2, 3, 4, 5):
            figures[f"csat_{score}"] += 1
    if first_breach is not None:
        merged[(facts.local_day(first_breach, offset), account)]["first_response_breaches"] += 1
    if resolution_breach is not None:
        merged[(facts.local_day(resolution_breach, offset), account)]["resolution_breaches"] += 1


# -- fans per interest tag ---------------------------------------------------------------------------------------

def take_snapshot(engine: Engine, now: datetime, offset: int) -> int:
    week = _week(now, offset)
    with engine.connect() as conn:
        counts = conn.execute(text(facts.SNAPSHOT_SQL), {"active": True}).all()
        conn.rollback()
    with engine.begin() as conn:  # the state row first: concurrent refreshes take their turns from here on
        conn.execute(text("UPDATE report_state SET snapshot_at = :now WHERE id = 1"),
                     {"now": facts.Dialect(engine.dialect.name, offset).moment(now)})
        conn.execute(text("DELETE FROM report_interest_snapshot WHERE week = :w"), {"w": week})
        if counts:
            conn.execute(ReportInterestSnapshot.__table__.insert(), [
                {"week": week, "account_id": a, "tag_id": t, "fans": int(n), "taken_at": now} for a, t, n in counts])
    return len(counts)


__all__ = ["ReportState", "Outcome", "load_state", "rebuild", "refresh", "take_snapshot"]
