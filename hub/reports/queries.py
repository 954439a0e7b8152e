"""Reading the rollups: sums over a range of days and an optional account, final and provisional rows together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, text

from hub.reports.models import ReportState


@dataclass(frozen=True)
class Filters:
    start: date
    end: date  # inclusive
    account_id: int | None = None


def sums(conn: Connection, table: type, by: Sequence[str], figures: Sequence[str], f: Filters) -> list[dict[str, Any]]:
    """SUM(figures) GROUP BY `by` over the days and account of `f` (column names come from the models)."""
    known = set(table.__table__.columns.keys())
    if not set(by) | set(figures) <= known:
        raise ValueError(f"unknown columns for {table.__tablename__}")
    where = "day >= :start AND day <= :end" + (" AND account_id = :account" if f.account_id is not None else "")
    group = ", ".join(by)
    sql = (f"SELECT {group}, " + ", ".join(f"SUM({c})" for c in figures) +  # noqa: S608
           f" FROM {table.__tablename__} WHERE {where} GROUP BY {group} ORDER BY {group}")
    rows = conn.execute(text(sql), {"start": f.start, "end": f.end, "account": f.account_id})
    out = []
    for row in rows:
        item = dict(zip(by, row[:len(by)], strict=True))
        if "day" in item and not isinstance(item["day"], date):
            item["day"] = date.fromisoformat(str(item["day"]))
        item.update({c: (v or 0) for c, v in zip(figures, row[len(by):], strict=True)})
        out.append(item)
    return out


def latest_snapshot(conn: Connection, f: Filters) -> list[dict[str, Any]]:
    """Fans per interest tag in the newest snapshot taken by the end of the range."""
    account = " AND s.account_id = :account" if f.account_id is not None else ""
    week = conn.execute(text(f"SELECT MAX(week) FROM report_interest_snapshot s WHERE week <= :end{account}"),  # noqa: S608
                        {"end": f.end, "account": f.account_id}).scalar()
    if week is None:
        return []
    return [{"tag": name, "fans": int(fans)} for name, fans in conn.execute(text(
        "SELECT t.name, SUM(s.fans) FROM report_interest_snapshot s JOIN tag t ON t.id = s.tag_id "  # noqa: S608
        f"WHERE s.week = :week AND t.deleted_at IS NULL AND t.kind = 'interest'{account} "
        "GROUP BY t.name ORDER BY SUM(s.fans) DESC, t.name"), {"week": week, "account": f.account_id})]


def snapshots_by_week(conn: Connection, f: Filters) -> list[dict[str, Any]]:
    account = " AND s.account_id = :account" if f.account_id is not None else ""
    rows = conn.execute(text(
        "SELECT s.week, t.name, SUM(s.fans) FROM report_interest_snapshot s JOIN tag t ON t.id = s.tag_id "  # noqa: S608
        f"WHERE s.week >= :start AND s.week <= :end AND t.deleted_at IS NULL AND t.kind = 'interest'{account} "
        "GROUP BY s.week, t.name ORDER BY s.week, t.name"),
        {"start": f.start, "end": f.end, "account": f.account_id})
    return [{"week": w if isinstance(w, date) else date.fromisoformat(str(w)), "tag": n, "fans": int(c)}
            for w, n, c in rows]


def accounts(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(text("SELECT id, key, name, channel FROM account ORDER BY key"))]


def refreshed_at(conn: Connection) -> Any:
    return conn.execute(text(f"SELECT refreshed_at FROM {ReportState.__tablename__} WHERE id = 1")).scalar()  # noqa: S608
