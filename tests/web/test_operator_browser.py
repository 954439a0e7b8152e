"""The operator's workspace in a real browser (Playwright driving Debian's chromium) against the hub over HTTP:
label three messages by click and by key and train (the figures and whether the new model replaced the active
one), add a keyword rule and see `hub simulate` get its reply through the WeChat emulation, import a knowledge-base
file with an error and see its line named; and an agent cannot reach the operator's pages."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from sqlmodel import Session, select
from werkzeug.security import generate_password_hash

from hub.cli import cli
from hub.core.db import session_scope
from hub.core.models import User
from hub.kb.models import KbEntry
from hub.tags.models import Example
from tests.support.tickets_setup import fan_message, make_account
from tests.support.wechat_setup import wire_account
from tests.tags.helpers import define_tags

PASSWORD = "correct-horse"
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # about the browser


def _users(state: Any) -> None:
    with session_scope(state.engine) as session:
        for email, role in (("op@x.test", "operator"), ("agent@x.test", "agent")):
            session.add(User(email=email, role=role, display_name=email.split("@")[0],
                             password_hash=generate_password_hash(PASSWORD)))


def _sign_in(browser: Any, url: str, email: str) -> Any:
    page = browser.new_page()
    page.goto(f"{url}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def test_label_three_messages_and_train(browser: Any, state: Any, live_hub: Any, worker: Any) -> None:
    _users(state)
    account = make_account(state)
    define_tags(state, {"美妆": ["口红", "粉底", "眼影"], "数码": ["手机", "耳机", "平板"]})
    for sender, text in (("f1", "这支口红持久吗"), ("f2", "新出的耳机音质怎么样"), ("f3", "今天天气真好")):
        fan_message(state, account, sender, text)
    page = _sign_in(browser, live_hub.url, "op@x.test")
    try:
        page.goto(f"{live_hub.url}/operator/labelling")
        assert page.locator("form.label-item").count() == 3
        expected = {}
        first = page.locator("form.label-item").first
        expected[first.locator("p.text").inner_text()] = "美妆"
        first.locator("button[name=label][value=美妆]").click()  # one click
        page.wait_for_function("document.querySelectorAll('form.label-item').length === 2")
        current = page.locator("form.label-item.current")
        expected[current.locator("p.text").inner_text()] = "数码"
        page.keyboard.press("2")  # by key: the second label, then Enter to confirm
        assert current.locator("button.selected").get_attribute("value") == "数码"
        page.keyboard.press("Enter")
        page.wait_for_function("document.querySelectorAll('form.label-item').length === 1")
        expected[page.locator("form.label-item.current p.text").inner_text()] = "none"
        page.keyboard.press("3")  # the third button: "none of these"
        page.keyboard.press("Enter")
        page.wait_for_selector("#queue-empty")
        with Session(state.engine) as session:
            labels = {e.text: e.label for e in session.exec(select(Example)).all()}
        assert labels == expected
        assert set(labels) == {"这支口红持久吗", "新出的耳机音质怎么样", "今天天气真好"}

        page.click("#train-now")
        page.wait_for_selector("#training-status")
        worker()  # the training job, as a worker runs it
        page.wait_for_selector("#training-verdict", timeout=20000)
        verdict = page.inner_text("#training-verdict")
        assert "它已替换当前模型" in verdict or "它没有替换当前模型" in verdict
        assert page.locator("#new-model").count() == 1
        assert page.get_attribute("#training-status", "data-status") == "finished"
    finally:
        page.close()


def test_a_keyword_rule_added_in_the_console_answers_hub_simulate(
        browser: Any, state: Any, live_hub: Any, sandbox: Any, hub_config: dict[str, Any]) -> None:
    _users(state)
    brand = wire_account(state, live_hub.url, sandbox.url)
    page = _sign_in(browser, live_hub.url, "op@x.test")
    try:
        page.goto(f"{live_hub.url}/operator/rules?account={brand.key}")
        page.select_option("#new-kind", "keyword")
        page.select_option("#new-match", "regex")
        page.fill("#new-pattern", "价格(")
        page.fill("#new-reply", "本店价格：99 元起")
        page.click("#new-rule button[type=submit]")
        assert "does not compile" in page.inner_text("#new-rule")  # a form error, not a 500
        page.select_option("#new-match", "contains")
        page.fill("#new-pattern", "价格")
        page.click("#new-rule button[type=submit]")
        page.wait_for_selector("tr[data-rule]")
        page.fill("#test-text", "请问价格多少")
        page.click("#test-rules button[type=submit]")
        assert "本店价格：99 元起" in page.inner_text("#test-answer")
    finally:
        page.close()
    env = {f"HUB_{k.upper()}": str(v) for k, v in hub_config.items()}
    result = CliRunner().invoke(cli, ["simulate", "--account", brand.key, "--sandbox", sandbox.url,
                                      "--openid", "fan-1", "--text", "请问价格多少"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["reply_text"] == "本店价格：99 元起"


def test_a_knowledge_base_file_with_an_error_names_its_line(browser: Any, state: Any, live_hub: Any) -> None:
    _users(state)
    lines = [{"question": "怎么退货", "answer": "七天无理由退货"}, {"question": "运费多少", "answer": "满99包邮"},
             {"question": "发票", "answer": "可以开", "link_url": "javascript:alert(1)"}]
    data = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines).encode()
    page = _sign_in(browser, live_hub.url, "op@x.test")
    try:
        page.goto(f"{live_hub.url}/operator/kb")
        page.set_input_files("#import-file", files=[{"name": "faq.jsonl", "mimeType": "application/json",
                                                     "buffer": data}])
        page.click("#import button[type=submit]")
        error = page.inner_text("#import .field-error")
        assert "第 3 行" in error and "link_url" in error and "没有导入任何内容" in error
        with Session(state.engine) as session:
            assert session.exec(select(KbEntry)).all() == []
    finally:
        page.close()


def test_an_agent_cannot_reach_the_operator_pages(browser: Any, state: Any, live_hub: Any) -> None:
    _users(state)
    page = _sign_in(browser, live_hub.url, "agent@x.test")
    try:
        assert "社群运营" not in page.inner_text("header")
        for path in ("tags", "labelling", "rules", "kb"):
            response = page.goto(f"{live_hub.url}/operator/{path}")
            assert response.status == 403, path
            assert "这些页面仅供社群运营和管理员使用。" in page.inner_text("main")
    finally:
        page.close()
