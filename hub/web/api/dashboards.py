"""API for the dashboards: each dashboard's charts as tables (JSON, for the console's charts) and each chart's
numbers as CSV. Filters: a range of days in the hub's timezone (`start`, `end`, inclusive; default the last 30
days) and an account (its key). Operators (and admins) only. The figures come from the rollups (hub.reports),
refreshed here first when they are stale."""

from __future__ import annotations

import csv
import io
import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Response as FlaskResponse
from flask import jsonify
from flask_babel import lazy_gettext
from pydantic import BaseModel, Field
from sqlalchemy import text

from hub.core.models import as_utc
from hub.reports import DASHBOARDS, Chart, Filters, refresh_if_stale
from hub.reports.facts import local_day, utc_offset_minutes
from hub.reports.queries import accounts, refreshed_at
from hub.web.api.base import ErrorOut, Response, bp, endpoint, error, state

log = logging.getLogger("hub.web.api")
ROLES = ("operator",)
DEFAULT_DAYS = 30
MAX_DAYS = 366

LABELS = {
    "day": lazy_gettext("Day"), "week": lazy_gettext("Week"), "tag": lazy_gettext("Tag"),
    "scene": lazy_gettext("Referral scene"), "fan_messages": lazy_gettext("Fan messages"),
    "answered": lazy_gettext("Answered by a bot"), "suggested": lazy_gettext("Suggestions offered"),
    "handed_off": lazy_gettext("Handed to a person"), "answer_rate": lazy_gettext("Answer rate (%)"),
    "suggestion_rate": lazy_gettext("Suggestion rate (%)"), "handoff_rate": lazy_gettext("Hand-off rate (%)"),
    "opened": lazy_gettext("Tickets opened"), "resolved": lazy_gettext("Tickets resolved"),
    "first_response_minutes": lazy_gettext("First response (minutes, average)"),
    "resolution_hours": lazy_gettext("Resolution (hours, average)"),
    "first_response_breaches": lazy_gettext("First-response SLA breaches"),
    "resolution_breaches": lazy_gettext("Resolution SLA breaches"),
    "csat_responses": lazy_gettext("Survey answers"), "csat_average": lazy_gettext("Average score"),
    "csat_1": "1", "csat_2": "2", "csat_3": "3", "csat_4": "4", "csat_5": "5",
    "fans": lazy_gettext("Fans"), "subscribed": lazy_gettext("Subscribed"),
    "unsubscribed": lazy_gettext("Unsubscribed"),
}
CHANNELS = {"wechat": lazy_gettext("WeChat Official Account"), "wecom": lazy_gettext("WeCom"),
            "community": lazy_gettext("Community")}
TITLES = {
    "messages": lazy_gettext("Messages and bots"), "service": lazy_gettext("Service"),
    "fans": lazy_gettext("Fans and interests"),
    "messages_per_channel": lazy_gettext("Messages per channel and day"),
    "bot_rates": lazy_gettext("Bot answer, suggestion and hand-off rates"),
    "tickets": lazy_gettext("Tickets opened and resolved"),
    "response_times": lazy_gettext("First-response and resolution times"),
    "sla_breaches": lazy_gettext("SLA breaches"), "csat": lazy_gettext("Customer satisfaction (CSAT)"),
    "interests_now": lazy_gettext("Fans per interest"),
    "interests_by_week": lazy_gettext("Interests in fan messages, by week"),
    "interest_fans_by_week": lazy_gettext("Fans per interest, by week"),
    "subscribes_by_scene": lazy_gettext("Subscribed and unsubscribed fans by referral scene"),
    "subscribes_by_day": lazy_gettext("Subscribed and unsubscribed fans per day"),
}


class DashboardQuery(BaseModel):
    start: date | None = Field(default=None, description="first day (YYYY-MM-DD); default 30 days before end")
    end: date | None = Field(default=None, description="last day, included (YYYY-MM-DD); default today")
    account: str | None = Field(default=None, max_length=64, description="an account's key; default all")


class DashboardAccountOut(BaseModel):
    key: str
    name: str
    channel: str


class DashboardListItemOut(BaseModel):
    name: str
    title: str
    charts: list[str]


class DashboardListOut(BaseModel):
    dashboards: list[DashboardListItemOut]
    accounts: list[DashboardAccountOut]


class ChartOut(BaseModel):
    id: str
    title: str
    kind: str = Field(description="line | bar | stacked | hbar: how the console draws it")
    columns: list[str] = Field(description="the first is the category (day, week, tag or scene)")
    labels: list[str] = Field(description="the columns' names in the reader's language")
    secondary: list[str] = Field(description="rates and averages, drawn as lines on a second axis")
    hidden: list[str] = Field(description="columns in the CSV only")
    rows: list[list[str | int | float | None]]


class DashboardOut(BaseModel):
    name: str
    title: str
    start: str
    end: str
    account: str | None
    refreshed_at: str | None = Field(description="when the figures were last brought up to date (UTC)")
    charts: list[ChartOut]


def label(column: str, chart_id: str = "") -> str:
    """A column's name for people: a known figure's words, a channel's name; tags and scenes as they are."""
    if chart_id == "messages_per_channel" and column in CHANNELS:
        return str(CHANNELS[column])
    return str(LABELS.get(column, column))


def chart_dict(chart: Chart) -> dict[str, Any]:
    return {"id": chart.id, "title": str(TITLES.get(chart.id, chart.id)), "kind": chart.kind,
            "columns": chart.columns, "labels": [label(c, chart.id) for c in chart.columns],
            "secondary": chart.secondary, "hidden": chart.hidden, "rows": chart.rows}


def _filters(query: DashboardQuery) -> Filters | tuple[FlaskResponse, int]:
    hub = state()
    today = local_day(datetime.now(UTC), utc_offset_minutes(hub.config.timezone))
    end = query.end or today
    start = query.start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        return error(400, "'start' is after 'end': give the first day, then the last")
    if (end - start).days >= MAX_DAYS:
        return error(400, f"the range is longer than {MAX_DAYS} days: choose a shorter one")
    account_id = None
    if query.account:
        with hub.engine.connect() as conn:
            account_id = conn.execute(text("SELECT id FROM account WHERE key = :k"), {"k": query.account}).scalar()
        if account_id is None:
            return error(400, f"no account {query.account!r}: give an account's key (hub account list)")
    return Filters(start, end, account_id)


def _fresh() -> None:
    try:
        refresh_if_stale(state())
    except Exception:  # the older figures are still worth showing; the job will catch up
        log.exception("refreshing the dashboards' rollups failed")


def _cell(value: Any) -> Any:
    """A CSV cell; text that a spreadsheet would run as a formula (a scene or tag name) is quoted with '."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@bp.get("/dashboards")
@endpoint(*ROLES, resp=Response(HTTP_200=DashboardListOut), tags=["dashboards"])
def list_dashboards() -> Any:
    """The dashboards, their charts, and the accounts to filter by"""
    with state().engine.connect() as conn:
        known = accounts(conn)
    return jsonify(dashboards=[{"name": name, "title": str(TITLES[name]), "charts": list(charts)}
                               for name, charts in DASHBOARDS.items()],
                   accounts=[{"key": a["key"], "name": a["name"] or a["key"], "channel": a["channel"]}
                             for a in known])


@bp.get("/dashboards/<name>")
@endpoint(*ROLES, query=DashboardQuery, resp=Response(HTTP_200=DashboardOut, HTTP_404=ErrorOut),
          tags=["dashboards"])
def dashboard(name: str, query: DashboardQuery) -> Any:
    """One dashboard's charts as tables, for a range of days and optionally one account"""
    if name not in DASHBOARDS:
        return error(404, f"no dashboard {name!r}: one of {', '.join(DASHBOARDS)}")
    f = _filters(query)
    if not isinstance(f, Filters):
        return f
    _fresh()
    with state().engine.connect() as conn:
        charts = [chart_dict(build(conn, f)) for build in DASHBOARDS[name].values()]
        moment = refreshed_at(conn)
    if moment is not None and not isinstance(moment, datetime):
        moment = datetime.fromisoformat(str(moment))
    return jsonify(name=name, title=str(TITLES[name]), start=f.start.isoformat(), end=f.end.isoformat(),
                   account=query.account, refreshed_at=as_utc(moment).isoformat() if moment else None, charts=charts)


@bp.get("/dashboards/<name>/<chart>.csv")
@endpoint(*ROLES, query=DashboardQuery, resp=Response(HTTP_200=(None, "the chart's numbers as CSV (UTF-8)"),
                                                      HTTP_404=ErrorOut), tags=["dashboards"])
def chart_csv(name: str, chart: str, query: DashboardQuery) -> Any:
    """One chart's numbers as CSV, with the same filters"""
    build = DASHBOARDS.get(name, {}).get(chart)
    if build is None:
        return error(404, f"no chart {chart!r} on dashboard {name!r}")
    f = _filters(query)
    if not isinstance(f, Filters):
        return f
    _fresh()
    with state().engine.connect() as conn:
        table = build(conn, f)
    out = io.StringIO()
    out.write("\ufeff")  # so that spreadsheet programs read the UTF-8 (Chinese tag and scene names) as such
    writer = csv.writer(out)
    writer.writerow([label(c, table.id) for c in table.columns])
    writer.writerows([_cell(v) for v in row] for row in table.rows)
    filename = f"{name}-{chart}-{f.start.isoformat()}-{f.end.isoformat()}.csv"
    return FlaskResponse(out.getvalue(), mimetype="text/csv",
                         headers={"Content-Disposition": f'attachment; filename="{filename}"'})
