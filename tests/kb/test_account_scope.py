"""Several accounts, each with its own knowledge scope (issue 22, item 3): an account limited to some categories
answers only from their entries; the others answer from every entry."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from sqlmodel import Session, select

from hub.cli import cli
from hub.core.db import session_scope
from hub.core.models import Account
from hub.core.state import set_current
from hub.kb import import_rows, kb_categories, kb_service, rebuild_kb_index, scoped
from hub.kb.files import EntryRow
from tests.support.tickets_setup import make_account

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # about scoping, not SQL

ROWS = [
    EntryRow(line=1, id="return", question="怎么退货", similar=["退货流程是什么"], answer="7 天内可退。",
             category="售后"),
    EntryRow(line=2, id="hours", question="门店几点营业", similar=["几点关门"], answer="每天 10:00–22:00。",
             category="门店"),
]


def test_an_account_answers_only_from_its_categories(state: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    brand, shop = make_account(state, "brand"), make_account(state, "shop")
    with session_scope(state.engine) as session:
        import_rows(session, ROWS)
    rebuild_kb_index()
    kb = kb_service(state, wait=True)
    monkeypatch.setenv("HUB_DATABASE_URL", str(state.engine.url.render_as_string(hide_password=False)))
    monkeypatch.setenv("HUB_REDIS_URL", state.config.redis_url)
    result = CliRunner().invoke(cli, ["account", "kb", "shop", "--categories", "门店"])
    set_current(state)  # the command made a state of its own
    assert result.exit_code == 0, result.output
    assert kb_categories(state, brand) == frozenset() and kb_categories(state, shop) == frozenset({"门店"})
    whole, limited = scoped(state, kb, brand), scoped(state, kb, shop)
    assert whole is kb
    assert whole.search("怎么退货", k=1)[0].entry_id == "return"
    assert [hit.entry_id for hit in limited.search("怎么退货", k=5)] in ([], ["hours"])
    assert limited.decide("怎么退货").action != "answer" and limited.entry("return") is None
    assert limited.decide("门店几点营业").hits[0].entry_id == "hours"
    with Session(state.engine) as session:
        assert session.exec(select(Account).where(Account.key == "shop")).one().settings["kb_categories"] == ["门店"]
    assert CliRunner().invoke(cli, ["account", "kb", "nope", "--categories", "x"]).exit_code != 0
    set_current(state)
