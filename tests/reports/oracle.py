"""The dashboards' figures computed the plain way, in Python over the raw rows (the tests' oracle), and the same
figures read back from the rollup tables."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from hub.core.models import Identity, Message
from hub.reports.facts import local_day
from hub.reports.models import ReportInterestDay, ReportMessageDay, ReportSubscribeDay, ReportTicketDay
from hub.tags.models import FanTag
from hub.tickets.models import Ticket

ANSWERING, HANDING_OFF = {"keyword", "faq"}, {"faq", "intent"}


def _day(value: Any, offset: int) -> date:
    return local_day(value if isinstance(value, datetime) else datetime.fromisoformat(str(value)), offset)


def expected(engine: sa.Engine, offset: int) -> dict[str, dict[tuple, dict[str, float]]]:
    m, i = Message.__table__, Identity.__table__
    messages: dict[tuple, Counter] = defaultdict(Counter)
    subscribes: dict[tuple, Counter] = defaultdict(Counter)
    interests: dict[tuple, Counter] = defaultdict(Counter)
    tickets: dict[tuple, Counter] = defaultdict(Counter)
    with engine.connect() as conn:
        scenes = dict(conn.execute(sa.select(i.c.id, i.c.referral_scene)).all())
        for row in conn.execute(sa.select(m.c.account_id, m.c.identity_id, m.c.direction, m.c.kind, m.c.event,
                                          m.c.source, m.c.meta, m.c.received_at)):
            day, meta = _day(row.received_at, offset), row.meta or {}
            c = messages[(day, row.account_id)]
            if row.direction == "in":
                c["messages_in"] += 1
                if row.kind != "event":
                    c["fan_messages"] += 1
                    if meta.get("interests"):
                        interests[(day, row.account_id, meta["interests"][0]["tag"])]["messages"] += 1
                elif row.event in ("subscribe", "unsubscribe"):
                    scene = meta.get("scene") if row.event == "subscribe" else scenes[row.identity_id]
                    subscribes[(day, row.account_id, scene or "")][row.event + "d"] += 1
            else:
                c["messages_out"] += 1
                if row.source.startswith("agent:"):
                    c["agent_replies"] += 1
                if row.source == "faq" and "suggestions" in meta:
                    c["suggested"] += 1
                elif row.source in HANDING_OFF and "ticket_id" in meta:
                    c["handed_off"] += 1
                elif row.source in ANSWERING and "ticket_id" not in meta:
                    c["answered"] += 1
        for t in conn.execute(sa.select(Ticket.__table__)):
            tickets[(_day(t.created_at, offset), t.account_id)]["opened"] += 1
            if t.first_response_at is not None:
                c = tickets[(_day(t.first_response_at, offset), t.account_id)]
                c["first_responses"] += 1
                c["first_response_seconds"] += (_dt(t.first_response_at) - _dt(t.created_at)).total_seconds()
            if t.resolved_at is not None:
                c = tickets[(_day(t.resolved_at, offset), t.account_id)]
                c["resolved"] += 1
                c["resolution_seconds"] += (_dt(t.resolved_at) - _dt(t.created_at)).total_seconds()
                if t.csat_score:
                    c[f"csat_{t.csat_score}"] += 1
            for kind in ("first_response", "resolution"):
                if getattr(t, f"{kind}_breached_at") is not None:
                    tickets[(_day(getattr(t, f"{kind}_breached_at"), offset), t.account_id)][f"{kind}_breaches"] += 1
        fans: dict[tuple, set] = defaultdict(set)
        accounts_of: dict[int, set] = defaultdict(set)
        for fan_id, account_id in conn.execute(sa.select(i.c.fan_id, i.c.account_id)):
            accounts_of[fan_id].add(account_id)
        for fan_id, tag_id in conn.execute(sa.select(FanTag.__table__.c.fan_id, FanTag.__table__.c.tag_id)
                                           .where(FanTag.__table__.c.active.is_(True))):
            for account_id in accounts_of[fan_id]:
                fans[(account_id, tag_id)].add(fan_id)
    return {"messages": _plain(messages), "subscribes": _plain(subscribes), "interests": _plain(interests),
            "tickets": _plain(tickets), "snapshot": {k: {"fans": float(len(v))} for k, v in fans.items()}}


def _dt(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _plain(counters: dict[tuple, Counter]) -> dict[tuple, dict[str, float]]:
    return {k: {f: float(v) for f, v in c.items() if v} for k, c in counters.items() if any(c.values())}


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def rolled_up(engine: sa.Engine) -> dict[str, dict[tuple, dict[str, float]]]:
    """The rollups, final and provisional rows summed, zero figures left out (as in `expected`)."""
    out: dict[str, dict[tuple, dict[str, float]]] = {}
    tables = {"messages": (ReportMessageDay, ("day", "account_id")),
              "subscribes": (ReportSubscribeDay, ("day", "account_id", "scene")),
              "interests": (ReportInterestDay, ("day", "account_id", "tag")),
              "tickets": (ReportTicketDay, ("day", "account_id"))}
    with engine.connect() as conn:
        for name, (table, keys) in tables.items():
            figures = [c.name for c in table.__table__.columns if not c.primary_key]
            sums: dict[tuple, Counter] = defaultdict(Counter)
            for row in conn.execute(sa.select(table.__table__)):
                key = tuple(_as_date(row.day) if k == "day" else getattr(row, k) for k in keys)
                for f in figures:
                    sums[key][f] += getattr(row, f)
            out[name] = _plain(sums)
        week = conn.execute(sa.text("SELECT MAX(week) FROM report_interest_snapshot")).scalar()
        out["snapshot"] = {(a, t): {"fans": float(n)} for a, t, n in conn.execute(sa.text(
            "SELECT account_id, tag_id, fans FROM report_interest_snapshot WHERE week = :w"), {"w": week}) if n}
    return out


def assert_same(got: dict[str, dict[tuple, dict[str, float]]], want: dict[str, dict[tuple, dict[str, float]]]) -> None:
    for name in want:
        assert set(got[name]) == set(want[name]), name
        for key, figures in want[name].items():
            assert set(got[name][key]) == set(figures), (name, key)
            for f, value in figures.items():
                assert abs(got[name][key][f] - value) < 0.01, (name, key, f, got[name][key][f], value)
