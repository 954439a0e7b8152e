"""The operator's dashboards: messages and bots, service (tickets, response times, SLA, CSAT), fans and interests.
The page holds the filters (days, account) and a frame per chart; hub/web/static/dashboards.js fetches the
dashboard's tables from the API (hub.web.api.dashboards) and draws them with ECharts. Each chart links its CSV."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import abort, current_app, render_template, request, url_for

from hub.reports import DASHBOARDS
from hub.reports.facts import local_day, utc_offset_minutes
from hub.reports.queries import accounts
from hub.web.api.dashboards import DEFAULT_DAYS, TITLES
from hub.web.operator.blueprint import bp

FIRST = next(iter(DASHBOARDS))


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@bp.get("/dashboards")
def dashboards() -> Any:
    """The first dashboard."""
    return _page(FIRST)


@bp.get("/dashboards/<name>")
def dashboards_view(name: str) -> Any:
    if name not in DASHBOARDS:
        abort(404)
    return _page(name)


def _page(name: str) -> Any:
    state = current_app.extensions["hub"]
    today = local_day(datetime.now(UTC), utc_offset_minutes(state.config.timezone))
    end = _day(request.args.get("end")) or today
    start = _day(request.args.get("start")) or end - timedelta(days=DEFAULT_DAYS - 1)
    with state.engine.connect() as conn:
        known = accounts(conn)
    account = request.args.get("account") or ""
    if account not in {a["key"] for a in known}:
        account = ""
    params = {"start": start.isoformat(), "end": end.isoformat(), **({"account": account} if account else {})}
    query = urlencode(params)
    charts = [{"id": chart, "title": TITLES[chart],
               "csv": url_for("api.chart_csv", name=name, chart=chart) + "?" + query} for chart in DASHBOARDS[name]]
    tabs = [{"name": n, "title": TITLES[n], "url": url_for("operator.dashboards_view", name=n) + "?" + query}
            for n in DASHBOARDS]
    return render_template("operator/dashboards.html", name=name, title=TITLES[name], tabs=tabs, charts=charts,
                           accounts=known, account=account, start=start, end=end,
                           data_url=url_for("api.dashboard", name=name) + "?" + query)
