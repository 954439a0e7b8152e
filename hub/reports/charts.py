"""The dashboards and their charts, as tables: each chart is named columns and rows (what the console draws
and the CSV download holds). Column keys are stable names; the web layer gives them words in the reader's
language (channel, tag and scene columns are named by their value)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection

from hub.reports.models import ReportInterestDay, ReportMessageDay, ReportSubscribeDay, ReportTicketDay
from hub.reports.queries import Filters, accounts, latest_snapshot, snapshots_by_week, sums


@dataclass
class Chart:
    id: str
    kind: str  # line | bar | stacked | hbar | pie: how the console draws it
    columns: list[str]  # the first is the category (day, week, tag, scene)
    rows: list[list[Any]] = field(default_factory=list)
    secondary: list[str] = field(default_factory=list)  # rates and averages: drawn as lines on a second axis
    hidden: list[str] = field(default_factory=list)  # in the CSV only


def _days(f: Filters) -> list[date]:
    return [f.start + timedelta(days=i) for i in range((f.end - f.start).days + 1)]


def _week(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _rate(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _pivot(items: list[dict[str, Any]], x: str, name: str, value: str, xs: list[Any], first: str) -> Chart:
    """Long rows (x, name, value) as a wide table: one column per name, one row per x (missing: 0)."""
    names = sorted({i[name] for i in items}, key=lambda n: (-sum(i[value] for i in items if i[name] == n), n))
    cells: dict[tuple, float] = {}
    for i in items:
        cells[(i[x], i[name])] = cells.get((i[x], i[name]), 0) + i[value]
    chart = Chart(first, "stacked", [x, *names])
    chart.rows = [[day.isoformat(), *(cells.get((day, n), 0) for n in names)] for day in xs]
    return chart


def messages_per_channel(conn: Connection, f: Filters) -> Chart:
    channel_of = {a["id"]: a["channel"] for a in accounts(conn)}
    items = [{"day": r["day"], "channel": channel_of.get(r["account_id"], "?"), "messages": r["messages_in"] +
              r["messages_out"]} for r in sums(conn, ReportMessageDay, ("day", "account_id"),
                                               ("messages_in", "messages_out"), f)]
    chart = _pivot(items, "day", "channel", "messages", _days(f), "messages_per_channel")
    chart.kind = "stacked"
    return chart


def bot_rates(conn: Connection, f: Filters) -> Chart:
    by_day = {r["day"]: r for r in sums(conn, ReportMessageDay, ("day",),
                                       ("fan_messages", "answered", "suggested", "handed_off"), f)}
    chart = Chart("bot_rates", "bar", ["day", "fan_messages", "answered", "suggested", "handed_off", "answer_rate",
                                       "suggestion_rate", "handoff_rate"],
                  secondary=["answer_rate", "suggestion_rate", "handoff_rate"],
                  hidden=["answered", "suggested", "handed_off"])
    for day in _days(f):
        r = by_day.get(day, {"fan_messages": 0, "answered": 0, "suggested": 0, "handed_off": 0})
        n = r["fan_messages"]
        chart.rows.append([day.isoformat(), n, r["answered"], r["suggested"], r["handed_off"],
                           _rate(r["answered"], n), _rate(r["suggested"], n), _rate(r["handed_off"], n)])
    return chart


_TICKET_FIGURES = ("opened", "resolved", "first_responses", "first_response_seconds", "resolution_seconds",
                   "first_response_breaches", "resolution_breaches", "csat_1", "csat_2", "csat_3", "csat_4", "csat_5")


def _ticket_days(conn: Connection, f: Filters) -> list[tuple[date, dict[str, Any]]]:
    by_day = {r["day"]: r for r in sums(conn, ReportTicketDay, ("day",), _TICKET_FIGURES, f)}
    empty = dict.fromkeys(_TICKET_FIGURES, 0)
    return [(day, by_day.get(day, empty)) for day in _days(f)]


def tickets(conn: Connection, f: Filters) -> Chart:
    return Chart("tickets", "bar", ["day", "opened", "resolved"],
                 [[d.isoformat(), r["opened"], r["resolved"]] for d, r in _ticket_days(conn, f)])


def response_times(conn: Connection, f: Filters) -> Chart:
    def avg(total: float, n: int, unit: float) -> float | None:
        return round(total / n / unit, 1) if n else None
    return Chart("response_times", "line", ["day", "first_response_minutes", "resolution_hours"],
                 [[d.isoformat(), avg(r["first_response_seconds"], r["first_responses"], 60),
                   avg(r["resolution_seconds"], r["resolved"], 3600)] for d, r in _ticket_days(conn, f)])


def sla_breaches(conn: Connection, f: Filters) -> Chart:
    return Chart("sla_breaches", "stacked", ["day", "first_response_breaches", "resolution_breaches"],
                 [[d.isoformat(), r["first_response_breaches"], r["resolution_breaches"]]
                  for d, r in _ticket_days(conn, f)])


def csat(conn: Connection, f: Filters) -> Chart:
    chart = Chart("csat", "stacked", ["day", "csat_responses", "csat_average", "csat_1", "csat_2", "csat_3",
                                      "csat_4", "csat_5"], secondary=["csat_average"], hidden=["csat_responses"])
    for d, r in _ticket_days(conn, f):
        scores = [r[f"csat_{n}"] for n in range(1, 6)]
        n = sum(scores)
        average = round(sum(s * (i + 1) for i, s in enumerate(scores)) / n, 2) if n else None
        chart.rows.append([d.isoformat(), n, average, *scores])
    return chart


def interests_now(conn: Connection, f: Filters) -> Chart:
    return Chart("interests_now", "hbar", ["tag", "fans"], [[r["tag"], r["fans"]] for r in latest_snapshot(conn, f)])


def interests_by_week(conn: Connection, f: Filters) -> Chart:
    items = [{"week": _week(r["day"]), "tag": r["tag"], "messages": r["messages"]}
             for r in sums(conn, ReportInterestDay, ("day", "tag"), ("messages",), f)]
    weeks = sorted({_week(d) for d in _days(f)})
    return _pivot(items, "week", "tag", "messages", weeks, "interests_by_week")


def interest_fans_by_week(conn: Connection, f: Filters) -> Chart:
    items = snapshots_by_week(conn, f)
    chart = _pivot(items, "week", "tag", "fans", sorted({i["week"] for i in items}), "interest_fans_by_week")
    chart.kind = "line"
    return chart


def subscribes_by_scene(conn: Connection, f: Filters) -> Chart:
    rows = sums(conn, ReportSubscribeDay, ("scene",), ("subscribed", "unsubscribed"), f)
    rows.sort(key=lambda r: (-r["subscribed"], r["scene"]))
    return Chart("subscribes_by_scene", "bar", ["scene", "subscribed", "unsubscribed"],
                 [[r["scene"] or "-", r["subscribed"], r["unsubscribed"]] for r in rows])


def subscribes_by_day(conn: Connection, f: Filters) -> Chart:
    by_day = {r["day"]: r for r in sums(conn, ReportSubscribeDay, ("day",), ("subscribed", "unsubscribed"), f)}
    return Chart("subscribes_by_day", "line", ["day", "subscribed", "unsubscribed"],
                 [[d.isoformat(), by_day.get(d, {}).get("subscribed", 0), by_day.get(d, {}).get("unsubscribed", 0)]
                  for d in _days(f)])


Builder = Callable[[Connection, Filters], Chart]
DASHBOARDS: dict[str, dict[str, Builder]] = {
    "messages": {"messages_per_channel": messages_per_channel, "bot_rates": bot_rates},
    "service": {"tickets": tickets, "response_times": response_times, "sla_breaches": sla_breaches, "csat": csat},
    "fans": {"interests_now": interests_now, "interests_by_week": interests_by_week,
             "interest_fans_by_week": interest_fans_by_week, "subscribes_by_scene": subscribes_by_scene,
             "subscribes_by_day": subscribes_by_day},
}
