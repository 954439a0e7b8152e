"""The dashboards' rollups (hub.reports): built from random data they equal the figures computed the plain way
over the raw rows; refreshed after new messages, tickets that changed after the fact (a late resolution, CSAT, a
reopening), they still do; messages not yet settled are provisional and become final without being counted twice.
Refreshes running at once count every message once. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from hub.core.models import Message
from hub.reports import refresh, rollups
from hub.reports.facts import utc_offset_minutes
from hub.reports.rollups import load_state, rebuild
from hub.tickets.models import Ticket
from tests.reports.factory import populate
from tests.reports.oracle import assert_same, expected, rolled_up

TZ = "Asia/Shanghai"


def _check(engine: sa.Engine, snapshot: bool = True) -> None:
    """The rollups equal the oracle's figures (the fans-per-interest snapshot is retaken once an hour)."""
    got, want = rolled_up(engine), expected(engine, utc_offset_minutes(TZ))
    if not snapshot:
        del got["snapshot"], want["snapshot"]
    assert_same(got, want)


def test_rollups_equal_the_raw_figures(state: Any) -> None:
    made = populate(state.engine, messages=3000, days=30, seed=7, end=datetime.now(UTC) - timedelta(hours=1))
    outcome = refresh(state.engine, TZ)
    assert outcome.finalized == made.messages and outcome.provisional == 0 and outcome.snapshot
    assert load_state(state.engine)["message_id"] == made.last_id
    _check(state.engine)
    figures = rolled_up(state.engine)
    assert sum(f.get("answered", 0) for f in figures["messages"].values()) > 100  # the data exercises every figure
    assert sum(f.get("csat_5", 0) for f in figures["tickets"].values()) > 0
    assert any(key[2] == "spring_promo" for key in figures["subscribes"])
    again = refresh(state.engine, TZ)  # nothing new: nothing added twice
    assert again.finalized == 0
    _check(state.engine)


def test_incremental_refresh_after_new_messages_and_changed_tickets(state: Any) -> None:
    now = datetime.now(UTC)
    first = populate(state.engine, messages=1500, days=20, seed=3, end=now - timedelta(days=2))
    refresh(state.engine, TZ, now=now)
    _check(state.engine)
    # New messages up to a minute ago (the last few minutes are not settled yet), and tickets changing after
    # the fact: an old one resolved now with a CSAT score, a resolved one reopened, a late SLA breach.
    second = populate(state.engine, messages=800, days=0.1, seed=4, end=now - timedelta(minutes=1),
                      accounts=first.accounts)
    t = Ticket.__table__
    moment = now
    with state.engine.begin() as conn:
        ids = [r[0] for r in conn.execute(sa.select(t.c.id).where(t.c.id <= first.tickets).order_by(t.c.id))]
        unresolved = [r[0] for r in conn.execute(sa.select(t.c.id).where(t.c.resolved_at.is_(None)).limit(3))]
        conn.execute(sa.update(t).where(t.c.id.in_(unresolved)).values(resolved_at=moment, csat_score=4,
                                                                         status="resolved", updated_at=moment))
        conn.execute(sa.update(t).where(t.c.id == ids[0]).values(resolved_at=None, status="open",
                                                                 updated_at=moment))
        conn.execute(sa.update(t).where(t.c.id == ids[1]).values(resolution_breached_at=moment, updated_at=moment))
    outcome = refresh(state.engine, TZ, now=now)
    assert outcome.provisional > 0  # the newest messages are provisional...
    watermark = load_state(state.engine)["message_id"]
    assert first.last_id < watermark < second.last_id
    _check(state.engine, snapshot=False)
    later = refresh(state.engine, TZ, now=now + timedelta(minutes=61))  # ...and final once settled
    assert later.provisional == 0 and later.snapshot and load_state(state.engine)["message_id"] == second.last_id
    _check(state.engine)
    with state.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM report_message_day WHERE final = :f"),
                            {"f": False}).scalar() == 0


def test_an_unprocessed_message_holds_the_watermark_back(state: Any) -> None:
    now = datetime.now(UTC)
    made = populate(state.engine, messages=300, days=5, seed=5, end=now - timedelta(hours=2))
    m = Message.__table__
    with state.engine.begin() as conn:  # a message the worker has not processed yet: its interests may follow
        conn.execute(sa.update(m).where(m.c.id == made.first_id + 100).values(
            status="received", meta={}, direction="in", kind="text", received_at=now - timedelta(minutes=20)))
    refresh(state.engine, TZ, now=now)
    assert load_state(state.engine)["message_id"] == made.first_id + 99
    _check(state.engine)
    with state.engine.begin() as conn:  # processed: tagged with an interest
        conn.execute(sa.update(m).where(m.c.id == made.first_id + 100).values(
            status="processed", meta={"interests": [{"tag": "汽车", "p": 0.9}]}))
    refresh(state.engine, TZ, now=now)
    assert load_state(state.engine)["message_id"] == made.last_id
    _check(state.engine)


def test_rebuild_starts_over_and_ends_equal(state: Any) -> None:
    populate(state.engine, messages=500, days=10, seed=9, end=datetime.now(UTC) - timedelta(hours=1))
    refresh(state.engine, TZ)
    rebuild(state.engine)
    assert rolled_up(state.engine)["messages"] == {}
    refresh(state.engine, TZ)
    _check(state.engine)


def test_two_refreshes_at_once_count_everything_once(state: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    populate(state.engine, messages=2000, days=10, seed=12, end=datetime.now(UTC) - timedelta(hours=1))
    monkeypatch.setattr(rollups, "CHUNK_IDS", 97)  # many chunks, so the runs race for each
    errors: list[BaseException] = []

    def run() -> None:
        try:
            refresh(state.engine, TZ)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    _check(state.engine)
