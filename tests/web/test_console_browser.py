"""The console in a real browser: Playwright driving Debian's chromium against the hub over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.security import generate_password_hash

from hub.core.db import session_scope
from hub.core.models import User


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_agent_logs_in_and_sees_the_overview(browser: Any, state: Any, live_hub: Any) -> None:
    with session_scope(state.engine) as session:
        session.add(User(email="agent@x.test", role="agent", display_name="小王",
                         password_hash=generate_password_hash("correct-horse")))
    page = browser.new_page()
    try:
        page.goto(f"{live_hub.url}/overview")  # an agent's home is the queue: ask for the overview itself
        assert page.url.startswith(f"{live_hub.url}/login")
        page.fill("#email", "agent@x.test")
        page.fill("#password", "wrong-password")
        page.click("button[type=submit]")
        assert page.locator("[role=alert]").inner_text() == "邮箱或密码错误。"  # Chinese by default
        page.fill("#email", "agent@x.test")
        page.fill("#password", "correct-horse")
        page.click("button[type=submit]")
        page.wait_for_selector("text=概览")
        assert "小王 · 客服" in page.inner_text("header")
        assert page.locator("tr[data-key=messages_in]").count() == 1
        page.click("text=退出登录")
        page.wait_for_selector("#email")
    finally:
        page.close()
