"""The audience builder in a real browser (issue 21's test): build `(美妆 OR 母婴) AND NOT 已购` with the chips and
operator buttons, see the live count match a direct SQL query, see a syntax error marked at its position, save
the audience and export it (the CSV's rows are that query's fans); an agent gets 403 on the page and the API."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from werkzeug.security import generate_password_hash

from hub.core.db import session_scope
from hub.core.models import User
from tests.tags.audience_data import populate

PASSWORD = "correct-horse"
DIRECT = text("""
    SELECT DISTINCT ft.fan_id FROM fantag ft JOIN tag t ON t.id = ft.tag_id
    WHERE ft.active = :yes AND t.name IN ('美妆', '母婴')
      AND ft.fan_id NOT IN (SELECT b.fan_id FROM fantag b JOIN tag bt ON bt.id = b.tag_id
                            WHERE bt.name = '已购' AND b.active = :yes)""")


def _login(page: Any, url: str, email: str) -> None:
    page.goto(f"{url}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


@pytest.fixture
def people(state: Any) -> None:
    with session_scope(state.engine) as session:
        for email, role in (("op@x.test", "operator"), ("agent@x.test", "agent")):
            session.add(User(email=email, role=role, display_name=role, password_hash=generate_password_hash(PASSWORD)))


def test_build_count_save_and_export_an_audience(browser: Any, state: Any, live_hub: Any, people: None,
                                                 tmp_path: Path) -> None:
    populate(state, 150)
    with state.engine.connect() as conn:
        want = sorted(conn.execute(DIRECT, {"yes": True}).scalars().all())
    assert 0 < len(want) < 150
    page = browser.new_page(accept_downloads=True)
    try:
        _login(page, live_hub.url, "op@x.test")
        page.goto(f"{live_hub.url}/operator/audiences")
        for selector in ("button.op[data-insert='(']", "button.tag[data-insert='美妆']", "button.op[data-insert='OR']",
                         "button.tag[data-insert='母婴']", "button.op[data-insert=')']", "button.op[data-insert='AND']",
                         "button.op[data-insert='NOT']", "button.tag[data-insert='已购']"):
            page.click(selector)
        assert page.input_value("#expression") == "(美妆 OR 母婴) AND NOT 已购"
        page.wait_for_function("n => document.getElementById('count').dataset.count === String(n)", arg=len(want))
        assert page.locator("#sample tbody tr").count() == min(20, len(want))

        page.fill("#expression", "(美妆 OR 母婴 AND")  # the live count shows where it went wrong
        page.wait_for_selector("#where pre.marked mark")
        assert "位置 13" in page.inner_text("#where p.error")  # the offset where a tag name was expected
        assert page.inner_text("#count") == "–"

        page.fill("#expression", "(美妆 OR 母婴) AND NOT 已购")
        page.wait_for_function("n => document.getElementById('count').dataset.count === String(n)", arg=len(want))
        page.fill("#name", "妈妈与美妆")
        page.click("#save-audience")
        page.wait_for_selector("#export-csv")
        assert "妈妈与美妆" in page.inner_text("#saved") and str(len(want)) in page.inner_text("#saved")
        assert page.get_attribute("#count", "data-count") == str(len(want))  # counted again on open

        with page.expect_download() as download:
            page.click("#export-csv")
        page.wait_for_function("() => document.getElementById('export-progress').value > 0")
        target = tmp_path / "audience.csv"
        download.value.save_as(target)
        with target.open(encoding="utf-8-sig", newline="") as source:
            rows = list(csv.reader(source))
        assert rows[0][:2] == ["fan_id", "display_name"]
        assert [int(r[0]) for r in rows[1:]] == want
        assert str(len(want)) in page.inner_text("#export-status")
    finally:
        page.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_agent_gets_403_on_the_audience_pages_and_api(browser: Any, state: Any, live_hub: Any,
                                                          people: None) -> None:
    page = browser.new_page()
    try:
        _login(page, live_hub.url, "agent@x.test")
        response = page.goto(f"{live_hub.url}/operator/audiences")
        assert response is not None and response.status == 403
        token = page.get_attribute("meta[name=csrf-token]", "content")
        answer = page.request.post(f"{live_hub.url}/api/v1/audiences/preview", data={"expression": "美妆"},
                                   headers={"X-CSRFToken": token or ""})
        assert answer.status == 403
    finally:
        page.close()
