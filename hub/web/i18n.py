"""The consoles' language and time: Chinese by default, English for users who choose it (Flask-Babel), and times
shown in the hub's time zone (HUB_TIMEZONE, Asia/Shanghai unless set; an account may set its own).

Messages are written in English in the code and templates (`_("Queue")`) and translated to Chinese by catalogs
under hub/web/translations/<area>/zh/LC_MESSAGES/messages.po — one directory per part of the console, so each
is edited on its own; Flask-Babel merges them. `python -m hub.web.i18n` compiles every .po into its .mo (the
tests check that the compiled files are current and that every string in the templates has a translation).
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app
from flask_babel import Babel, format_datetime, get_locale
from flask_login import current_user

TRANSLATIONS = Path(__file__).parent / "translations"
LOCALES = {"zh": "中文", "en": "English"}
DEFAULT_LOCALE = "zh"
babel = Babel()


def translation_directories() -> list[Path]:
    return sorted(path for path in TRANSLATIONS.iterdir() if path.is_dir()) if TRANSLATIONS.is_dir() else []


def _locale() -> str:
    chosen = getattr(current_user, "locale", None) if current_user else None
    return chosen if chosen in LOCALES else DEFAULT_LOCALE


def _timezone() -> str:
    return current_app.extensions["hub"].config.timezone


def init_i18n(app: Flask) -> None:
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(str(path) for path in translation_directories())
    babel.init_app(app, default_locale=DEFAULT_LOCALE, locale_selector=_locale, timezone_selector=_timezone)
    app.jinja_env.filters["when"] = when
    app.jinja_env.globals.update(LOCALES=LOCALES, get_locale=get_locale)


def zone(name: str | None) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def when(moment: Any, account_zone: str | None = None, format: str = "short") -> str:  # noqa: A002
    """A stored time (datetime or ISO text) as the reader's locale writes it, in the account's time zone (else the
    hub's)."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    tz = zone(account_zone)
    if tz is not None:
        return format_datetime(moment.astimezone(tz).replace(tzinfo=None), format, rebase=False)
    return format_datetime(moment, format)


def compile_catalogs() -> list[Path]:
    """Compile every messages.po under hub/web/translations into its messages.mo; the files written."""
    written = []
    for po_path in sorted(TRANSLATIONS.glob("*/*/LC_MESSAGES/messages.po")):
        with po_path.open("rb") as source:
            catalog = read_po(source)
        with po_path.with_suffix(".mo").open("wb") as target:
            write_mo(target, catalog)
        written.append(po_path.with_suffix(".mo"))
    return written


if __name__ == "__main__":
    for path in compile_catalogs():
        print(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path, file=sys.stderr)
