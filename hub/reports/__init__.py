"""The figures the dashboards show: daily aggregates of messages, tickets, subscribes and interests (`models`),
built from the raw tables (`facts`) and kept up to date incrementally (`rollups`, run by the job in `jobs`), read
back per chart (`queries`, `charts`). The web layer draws them (hub.web.operator.dashboards, hub.web.api)."""

from hub.reports.charts import DASHBOARDS, Chart
from hub.reports.jobs import refresh_if_stale, refresh_rollups, schedule_refresh, start_refresh_clock
from hub.reports.models import (
    ReportInterestDay,
    ReportInterestSnapshot,
    ReportMessageDay,
    ReportState,
    ReportSubscribeDay,
    ReportTicketDay,
)
from hub.reports.queries import Filters
from hub.reports.rollups import Outcome, rebuild, refresh

__all__ = [
    "DASHBOARDS", "Chart", "Filters", "Outcome", "ReportInterestDay", "ReportInterestSnapshot", "ReportMessageDay",
    "ReportState", "ReportSubscribeDay", "ReportTicketDay", "rebuild", "refresh", "refresh_if_stale",
    "refresh_rollups", "schedule_refresh", "start_refresh_clock",
]
