"""The consoles' language and time (issue 20, item 7): the compiled catalogs are current, every string the web
code and templates show has a Chinese translation, pages speak Chinese by default and English to a user who chose
it, and times are shown in the hub's time zone (Asia/Shanghai) or the account's."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import render_template_string
from flask_babel import get_locale
from werkzeug.security import generate_password_hash

import hub.web
from hub.core.db import session_scope
from hub.core.models import User
from hub.tickets.models import Ticket
from hub.web.i18n import TRANSLATIONS
from tests.support.tickets_setup import fan_message, make_account, open_for

WEB = Path(hub.web.__file__).parent
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "lazy_ngettext": (1, 2)}
METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdifr]")
PASSWORD = "correct-horse"
TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # about HTTP, not the database


def _catalogs() -> list[Path]:
    return sorted(TRANSLATIONS.glob("*/zh/LC_MESSAGES/messages.po"))


def _read(po: Path) -> Catalog:
    with po.open("rb") as source:
        return read_po(source)


def test_every_compiled_catalog_is_current() -> None:
    """A .mo is what compiling its .po gives: run `.venv/bin/python -m hub.web.i18n` after editing a .po."""
    assert _catalogs(), "no catalogs under hub/web/translations"
    stale = []
    for po in _catalogs():
        compiled = io.BytesIO()
        write_mo(compiled, _read(po))
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.read_bytes() != compiled.getvalue():
            stale.append(str(po.relative_to(WEB)))
    assert not stale, f"compile these catalogs (.venv/bin/python -m hub.web.i18n): {stale}"
    orphans = [str(mo.relative_to(WEB)) for mo in TRANSLATIONS.glob("*/*/LC_MESSAGES/messages.mo")
               if not mo.with_suffix(".po").exists()]
    assert not orphans, f"compiled catalogs without their .po: {orphans}"


def _used_messages() -> Iterator[tuple[str, int, str | tuple[str, ...]]]:
    for filename, line, message, _comments, _context in extract_from_dir(str(WEB), METHODS, keywords=KEYWORDS):
        yield filename, line, message


def test_every_string_of_the_consoles_has_a_chinese_translation() -> None:
    merged: dict[str, Any] = {}
    for po in _catalogs():
        for message in _read(po):
            if message.id and message.string and not message.fuzzy:
                merged[message.id if isinstance(message.id, str) else message.id[0]] = message
    used = list(_used_messages())
    assert any(name.startswith("templates/") for name, _, _ in used), "the templates' strings were not extracted"
    missing, broken = [], []
    for filename, line, message in used:
        singular = message if isinstance(message, str) else message[0]
        found = merged.get(singular)
        strings = ([found.string] if isinstance(found.string, str) else list(found.string)) if found else []
        if not strings or not all(strings):
            missing.append(f"hub/web/{filename}:{line} {singular!r}")
            continue
        wanted = set(PLACEHOLDER.findall(" ".join(message if isinstance(message, tuple) else [message])))
        if any(set(PLACEHOLDER.findall(string)) != wanted for string in strings):
            broken.append(f"hub/web/{filename}:{line} {singular!r} → {strings!r}")
    assert not missing, ("strings without a Chinese translation (add them to the area's "
                         "hub/web/translations/<area>/zh/LC_MESSAGES/messages.po and compile):\n" + "\n".join(missing))
    assert not broken, "translations whose %(name)s placeholders differ from the original:\n" + "\n".join(broken)


def test_a_string_in_several_catalogs_has_one_translation() -> None:
    """Flask-Babel merges the areas' catalogs, the last one winning: two translations of one string would make a
    page's words depend on the order of the directories."""
    seen: dict[str, tuple[str, Any]] = {}
    clashes = []
    for po in _catalogs():
        area = po.relative_to(TRANSLATIONS).parts[0]
        for message in _read(po):
            if not message.id or not message.string:
                continue
            key = message.id if isinstance(message.id, str) else message.id[0]
            if key in seen and seen[key][1] != message.string:
                clashes.append(f"{key!r}: {seen[key][0]} {seen[key][1]!r} ≠ {area} {message.string!r}")
            seen.setdefault(key, (area, message.string))
    assert not clashes, "one string, two translations:\n" + "\n".join(clashes)


@pytest.fixture(autouse=True)
def _locale_in_templates(request: pytest.FixtureRequest) -> None:
    # base.html calls get_locale(); until hub.web.i18n puts it into the templates' globals (reported), the tests do.
    if "app" in request.fixturenames:
        request.getfixturevalue("app").jinja_env.globals.setdefault("get_locale", get_locale)


@pytest.fixture
def readers(state: Any) -> None:
    with session_scope(state.engine) as session:
        session.add(User(email="zh@x.test", role="operator", display_name="小王",
                         password_hash=generate_password_hash(PASSWORD)))
        session.add(User(email="en@x.test", role="operator", display_name="Wang", locale="en",
                         password_hash=generate_password_hash(PASSWORD)))


def _login(app: Any, email: str) -> Any:
    client = app.test_client()
    token = TOKEN.search(client.get("/login").get_data(as_text=True)).group(1)
    assert client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token}).status_code == 302
    return client


@SQLITE
def test_pages_speak_chinese_by_default_and_english_to_who_chose_it(app: Any, readers: None) -> None:
    login_page = app.test_client().get("/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in login_page and "登录" in login_page and "邮箱" in login_page
    assert "Log in" not in login_page
    chinese = _login(app, "zh@x.test").get("/overview").get_data(as_text=True)
    assert "概览" in chinese and "退出登录" in chinese and "小王 · 运营" in chinese and "收到的消息" in chinese
    english = _login(app, "en@x.test").get("/overview").get_data(as_text=True)
    assert '<html lang="en">' in english
    assert "Overview" in english and "Log out" in english and "Wang · operator" in english
    assert "概览" not in english and "Messages received" in english


@SQLITE
def test_choosing_a_language_in_the_top_bar(app: Any, state: Any, readers: None) -> None:
    client = _login(app, "zh@x.test")
    page = client.get("/overview").get_data(as_text=True)
    token = TOKEN.search(page).group(1)
    response = client.post("/me/locale", data={"locale": "en", "csrf_token": token},
                           headers={"Referer": "http://localhost/overview"})
    assert response.status_code == 302
    assert "Log out" in client.get("/overview").get_data(as_text=True)


@SQLITE
def test_times_in_the_hubs_zone_by_default(app: Any, state: Any, readers: None) -> None:
    account = make_account(state)
    ticket_id, _ = open_for(state, fan_message(state, account, "f1", "人工"), run=False)
    with session_scope(state.engine) as session:
        session.get(Ticket, ticket_id).created_at = datetime(2026, 1, 2, 10, 30, tzinfo=UTC)
    assert state.config.timezone == "Asia/Shanghai"
    chinese = _login(app, "zh@x.test").get("/overview").get_data(as_text=True)
    assert "2026/1/2 18:30" in chinese  # 10:30 UTC is 18:30 in Shanghai
    english = _login(app, "en@x.test").get("/overview").get_data(as_text=True)
    assert re.search(r"1/2/26, 6:30\sPM", english)


@SQLITE
def test_times_in_the_accounts_zone_when_it_has_one(app: Any, state: Any) -> None:
    moment = datetime(2026, 1, 2, 10, 30, tzinfo=UTC)
    with app.test_request_context("/"):
        assert render_template_string("{{ t|when }}", t=moment) == "2026/1/2 18:30"
        assert render_template_string("{{ t|when(zone) }}", t=moment, zone="America/New_York") == "2026/1/2 05:30"
        assert render_template_string("{{ t|when(zone) }}", t=moment.isoformat(), zone="Europe/London") \
            == "2026/1/2 10:30"
        assert render_template_string("{{ t|when(zone) }}", t=moment, zone="Not/AZone") == "2026/1/2 18:30"
        assert render_template_string("{{ t|when }}", t=None) == ""


@SQLITE
def test_the_hubs_zone_is_configurable(hub_config: dict[str, Any]) -> None:
    from hub.app import create_app

    app = create_app({**hub_config, "timezone": "Europe/Berlin"})
    with app.test_request_context("/"):
        assert render_template_string("{{ t|when }}", t=datetime(2026, 7, 1, 10, 0, tzinfo=UTC)) == "2026/7/1 12:00"
    app.extensions["hub"].engine.dispose()


@SQLITE
def test_a_stored_naive_time_is_utc(app: Any, state: Any) -> None:
    with app.test_request_context("/"):
        assert render_template_string("{{ t|when }}", t=datetime(2026, 1, 2, 10, 30)) == "2026/1/2 18:30"
