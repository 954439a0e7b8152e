"""The dashboards in a real browser (issue 21, item 6): Playwright driving Debian's chromium against the hub over
HTTP. Each dashboard's page draws every chart with ECharts, and each chart holds the figures the API gives (read
from the ECharts instance's option); changing the account filter redraws with that account's figures; no console
errors, no failed requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from werkzeug.security import generate_password_hash

from hub.core.db import session_scope
from hub.core.models import User
from hub.reports import DASHBOARDS
from tests.reports.factory import populate

PASSWORD = "correct-horse"
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # about the browser, not the database
OPTION = """id => {
  const chart = echarts.getInstanceByDom(document.getElementById('chart-' + id));
  if (!chart) return null;
  const option = chart.getOption();
  return {categories: (option.xAxis[0].data || option.yAxis[0].data || []).length,
          series: option.series.map(s => ({name: s.name, data: s.data}))};
}"""


@SQLITE
def test_each_dashboard_draws_every_chart_with_data(browser: Any, state: Any, live_hub: Any) -> None:
    with session_scope(state.engine) as session:
        session.add(User(email="op@x.test", role="operator", display_name="运营",
                         password_hash=generate_password_hash(PASSWORD)))
    populate(state.engine, messages=3000, days=20, seed=21, end=datetime.now(UTC) - timedelta(hours=1))
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and not m.location.get(
        "url", "").endswith("/favicon.ico") else None)  # the hub has no favicon
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
    try:
        page.goto(f"{live_hub.url}/login")
        page.fill("#email", "op@x.test")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        page.goto(f"{live_hub.url}/operator/")
        assert page.url.endswith("/operator/dashboards")
        page.wait_for_selector("#dashboards[data-loaded]")
        for name, charts in DASHBOARDS.items():
            page.goto(f"{live_hub.url}/operator/dashboards/{name}")
            page.wait_for_selector("#dashboards[data-loaded]")
            for chart in charts:
                option = page.evaluate(OPTION, chart)
                assert option is not None, (name, chart)
                assert option["categories"] > 0 and option["series"], (name, chart)
                values = [v for s in option["series"] for v in s["data"] if isinstance(v, int | float)]
                assert values and max(values) > 0, (name, chart)
        # The account filter: the page reloads with it and the charts hold that account's (smaller) figures.
        page.goto(f"{live_hub.url}/operator/dashboards/messages")
        page.wait_for_selector("#dashboards[data-loaded]")
        total = sum(sum(v or 0 for v in s["data"]) for s in page.evaluate(OPTION, "messages_per_channel")["series"])
        page.select_option("select[name=account]", index=1)
        page.click(".dash-filters button[type=submit]")
        page.wait_for_selector("#dashboards[data-loaded]")
        assert "account=" in page.url
        series = page.evaluate(OPTION, "messages_per_channel")["series"]
        one = sum(sum(v or 0 for v in s["data"]) for s in series)
        assert 0 < one < total
        assert page.locator("a.dash-csv").count() == len(DASHBOARDS["messages"])
        assert errors == [], "\n".join(errors)
    finally:
        page.close()
