"""The dashboards through HTTP (issue 21, item 6): each dashboard's charts as JSON with the figures the raw rows
give, the date and account filters, every chart as CSV, bad filters refused with a 400, the page with its
filters and CSV links, the rollups refreshed on a stale page load, and roles (operators and admins; agents 403)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from werkzeug.security import generate_password_hash

from hub.core.db import session_scope
from hub.core.models import User
from hub.reports import DASHBOARDS
from hub.reports.facts import local_day, utc_offset_minutes
from tests.reports.factory import populate
from tests.reports.oracle import expected

PASSWORD = "correct-horse"
TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # about HTTP, not the database


@pytest.fixture
def people(state: Any) -> None:
    with session_scope(state.engine) as session:
        for email, role in (("admin@x.test", "admin"), ("op@x.test", "operator"), ("agent@x.test", "agent")):
            session.add(User(email=email, role=role, password_hash=generate_password_hash(PASSWORD)))


def login(app: Any, email: str = "op@x.test") -> Any:
    client = app.test_client()
    token = TOKEN.search(client.get("/login").get_data(as_text=True)).group(1)
    assert client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token}).status_code == 302
    return client


def _today(state: Any) -> date:
    return local_day(datetime.now(UTC), utc_offset_minutes(state.config.timezone))


def _column(chart: dict[str, Any], name: str) -> list[Any]:
    index = chart["columns"].index(name)
    return [row[index] for row in chart["rows"]]


def test_dashboards_answer_the_raw_figures_with_filters_and_csv(app: Any, state: Any, people: None) -> None:
    made = populate(state.engine, messages=2000, days=20, seed=11, end=datetime.now(UTC) - timedelta(hours=1))
    want = expected(state.engine, utc_offset_minutes(state.config.timezone))
    client = login(app)
    end = _today(state)
    start = end - timedelta(days=29)
    body = client.get("/api/v1/dashboards/messages").get_json()  # the first load builds the rollups
    assert body["start"] == start.isoformat() and body["end"] == end.isoformat() and body["refreshed_at"]
    charts = {c["id"]: c for c in body["charts"]}
    assert set(charts) == set(DASHBOARDS["messages"])
    rates = charts["bot_rates"]
    assert sum(_column(rates, "fan_messages")) == sum(f.get("fan_messages", 0) for f in want["messages"].values())
    assert sum(_column(rates, "answered")) == sum(f.get("answered", 0) for f in want["messages"].values())
    day = max(k[0] for k in want["messages"])
    row = rates["rows"][_column(rates, "day").index(day.isoformat())]
    n = sum(f.get("fan_messages", 0) for k, f in want["messages"].items() if k[0] == day)
    handed = sum(f.get("handed_off", 0) for k, f in want["messages"].items() if k[0] == day)
    assert row[rates["columns"].index("handoff_rate")] == round(100 * handed / n, 1)
    per_channel = charts["messages_per_channel"]
    assert set(per_channel["columns"][1:]) == {"wechat", "community"}
    assert set(per_channel["labels"][1:]) == {"微信公众号", "社区"}
    assert sum(sum(r[1:]) for r in per_channel["rows"]) == made.messages
    # One account only.
    account = client.get("/api/v1/dashboards").get_json()["accounts"][0]["key"]
    one = client.get(f"/api/v1/dashboards/service?account={account}&start={start}&end={end}").get_json()
    tickets = {c["id"]: c for c in one["charts"]}["tickets"]
    account_id = made.accounts[0] if account.endswith("0") else made.accounts[1]
    assert sum(_column(tickets, "opened")) == sum(f.get("opened", 0) for k, f in want["tickets"].items()
                                                  if k[1] == account_id)
    # A short range: the days outside it are left out.
    short = client.get(f"/api/v1/dashboards/service?start={end - timedelta(days=2)}&end={end}").get_json()
    assert [r[0] for r in short["charts"][0]["rows"]] == [(end - timedelta(days=i)).isoformat() for i in (2, 1, 0)]
    fans = {c["id"]: c for c in client.get("/api/v1/dashboards/fans").get_json()["charts"]}
    assert sum(_column(fans["interests_now"], "fans")) == sum(f["fans"] for f in want["snapshot"].values())
    assert sum(sum(r[1:]) for r in fans["interests_by_week"]["rows"]) == sum(
        f["messages"] for f in want["interests"].values())
    # Every chart as CSV: the header in the reader's language, the same numbers, formulas defused.
    for name, chart_ids in DASHBOARDS.items():
        for chart_id in chart_ids:
            response = client.get(f"/api/v1/dashboards/{name}/{chart_id}.csv?start={start}&end={end}")
            assert response.status_code == 200 and response.mimetype == "text/csv", chart_id
            assert "attachment" in response.headers["Content-Disposition"]
    table = list(csv.reader(io.StringIO(client.get(
        f"/api/v1/dashboards/messages/bot_rates.csv?start={start}&end={end}").get_data(as_text=True).lstrip("\ufeff"))))
    assert table[0][:2] == ["日期", "粉丝消息"]
    assert [r[1] for r in table[1:]] == [str(v) for v in _column(rates, "fan_messages")]
    scenes = client.get(f"/api/v1/dashboards/fans/subscribes_by_scene.csv?start={start}&end={end}").get_data(
        as_text=True)
    assert "'=evil" in scenes and "\n=evil" not in scenes


@SQLITE
def test_bad_filters_get_a_400_and_unknown_dashboards_a_404(app: Any, people: None) -> None:
    client = login(app)
    for query in ("start=2026-13-01", "start=2026-12-05&end=2026-12-01", "start=2024-01-01&end=2026-01-01",
                  "account=nope", "end=yesterday"):
        response = client.get(f"/api/v1/dashboards/messages?{query}")
        assert response.status_code == 400 and response.get_json()["error"], query
        assert client.get(f"/api/v1/dashboards/messages/bot_rates.csv?{query}").status_code == 400
    assert client.get("/api/v1/dashboards/nope").status_code == 404
    assert client.get("/api/v1/dashboards/messages/nope.csv").status_code == 404
    assert client.get("/operator/dashboards/nope").status_code == 404


@SQLITE
def test_roles_operators_and_admins_only(app: Any, people: None) -> None:
    anonymous = app.test_client()
    assert anonymous.get("/api/v1/dashboards/messages").status_code == 401
    assert anonymous.get("/operator/dashboards").status_code == 302
    agent = login(app, "agent@x.test")
    assert agent.get("/api/v1/dashboards/messages").status_code == 403
    assert agent.get("/api/v1/dashboards/messages/bot_rates.csv").status_code == 403
    assert agent.get("/operator/dashboards").status_code == 403
    for email in ("op@x.test", "admin@x.test"):
        client = login(app, email)
        assert client.get("/api/v1/dashboards/service").status_code == 200
        assert client.get("/operator/").headers["Location"].endswith("/operator/dashboards")


@SQLITE
def test_the_page_keeps_its_filters_and_links_each_chart_to_its_csv(app: Any, state: Any, people: None) -> None:
    populate(state.engine, messages=200, days=5, seed=2, end=datetime.now(UTC) - timedelta(hours=1))
    client = login(app)
    page = client.get("/operator/dashboards/service?start=2026-11-01&end=2026-11-20&account=acct20").get_data(
        as_text=True)
    assert 'value="2026-11-01"' in page and 'value="acct20" selected' in page
    for chart_id in DASHBOARDS["service"]:
        assert f'data-chart="{chart_id}"' in page
        assert f"/api/v1/dashboards/service/{chart_id}.csv?start=2026-11-01&amp;end=2026-11-20&amp;account=acct20" \
            in page
    assert "/api/v1/dashboards/service?start=2026-11-01&amp;end=2026-11-20&amp;account=acct20" in page
    assert "vendor/echarts/echarts.common.min.js" in page and "客户满意度" in page
    first = client.get("/operator/dashboards").get_data(as_text=True)
    assert 'data-chart="bot_rates"' in first  # the index is the first dashboard


@SQLITE
def test_a_stale_rollup_is_refreshed_when_a_dashboard_is_loaded(app: Any, state: Any, people: None) -> None:
    client = login(app)
    assert sum(sum(r[1:]) for r in client.get("/api/v1/dashboards/messages").get_json()["charts"][0]["rows"]) == 0
    made = populate(state.engine, messages=300, days=3, seed=6, end=datetime.now(UTC) - timedelta(hours=1))
    fresh = client.get("/api/v1/dashboards/messages").get_json()["charts"][0]["rows"]
    assert sum(sum(r[1:]) for r in fresh) == 0  # refreshed a moment ago: the figures may be a few minutes old
    with state.engine.begin() as conn:  # ...and once they are older than that, the next load refreshes them
        conn.execute(text("UPDATE report_state SET refreshed_at = :t"), {"t": "2000-01-01 00:00:00.000000"})
    stale = client.get("/api/v1/dashboards/messages").get_json()["charts"][0]["rows"]
    assert sum(sum(r[1:]) for r in stale) == made.messages
