"""The operator's tag list over many fans (issue 21, item 1): each tag's fan count and its 8-week trend, as
hub.web.operator.tags reads them — one GROUP BY over the active fan tags' index for the counts, the weekly counts
the dashboards keep (hub.reports' interest snapshot, taken here once) for the trend — beside a plain baseline in the
same run: the trend counted from the fan tags themselves, eight GROUP BY queries, one per week. N fans, 20 tags,
about 3 tags per fan, tagged over the last 12 weeks. SQLite.

    .venv/bin/python bench/operator_tags.py --fans 200000
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func
from sqlmodel import Session, col, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _fill(engine: Any, fans: int, seed: int = 7) -> None:
    from hub.core.models import utcnow

    rng = random.Random(seed)
    now = utcnow()
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.executemany("INSERT INTO tag (id, name, kind, description, seed_keywords, created_at) "
                        "VALUES (?, ?, 'interest', '', '[]', ?)", [(i, f"T{i:02d}", now) for i in range(1, 21)])
        cur.executemany("INSERT INTO fan (id, display_name, created_at, last_seen_at) VALUES (?, '', ?, ?)",
                        [(i, now, now) for i in range(1, fans + 1)])
        cur.execute("INSERT INTO account (id, key, channel, name, token, app_id, app_secret, settings, created_at) "
                    "VALUES (1, 'brand', 'wechat', '', '', '', '', '{}', ?)", (now,))
        cur.executemany("INSERT INTO identity (fan_id, account_id, external_id, subscribed, created_at) "
                        "VALUES (?, 1, ?, 1, ?)", [(i, f"o{i}", now) for i in range(1, fans + 1)])
        rows = []
        for fan_id in range(1, fans + 1):
            for tag_id in rng.sample(range(1, 21), 3):
                when = now - timedelta(minutes=rng.randrange(60 * 24 * 7 * 12))
                rows.append((fan_id, tag_id, rng.random() < 0.9, "auto", 0.7, "[]", when))
        cur.executemany("INSERT INTO fantag (fan_id, tag_id, active, source, score, evidence, updated_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        raw.commit()
    finally:
        raw.close()


def _baseline(session: Session, now: Any) -> dict[int, list[int]]:
    from hub.tags import FanTag
    from hub.web.operator.tags import WEEKS

    out: dict[int, list[int]] = {}
    for week in range(WEEKS):
        end = now - timedelta(weeks=WEEKS - 1 - week)
        for tag_id, count in session.exec(select(FanTag.tag_id, func.count()).where(
                col(FanTag.active).is_(True), FanTag.updated_at > end - timedelta(weeks=1), FanTag.updated_at <= end)
                .group_by(FanTag.tag_id)).all():
            out.setdefault(tag_id, [0] * WEEKS)[week] = count
    return out


def _time(fn: Any, repeat: int) -> tuple[Any, dict[str, float]]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return result, {"p50_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fans", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from hub.core.migrate import upgrade
    from hub.core.models import utcnow
    from hub.reports.rollups import take_snapshot
    from hub.tags import FanTag
    from hub.web.operator.tags import _trends

    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite:///{folder}/bench.db")
        upgrade(engine)
        started = time.perf_counter()
        _fill(engine, args.fans)
        fill_s = round(time.perf_counter() - started, 1)
        now = utcnow()
        started = time.perf_counter()
        take_snapshot(engine, now, 480)  # what the worker's refresh does once an hour (Asia/Shanghai)
        snapshot_s = round(time.perf_counter() - started, 1)
        with Session(engine) as session:
            def page() -> tuple[dict[int, int], dict[int, list[int]]]:
                counts = dict(session.exec(select(FanTag.tag_id, func.count()).where(col(FanTag.active).is_(True))
                                           .group_by(FanTag.tag_id)).all())
                return counts, _trends(session, now)

            (counts, trends), hub_times = _time(page, args.repeat)
            baseline, base_times = _time(lambda: _baseline(session, now), args.repeat)
        engine.dispose()
    assert trends and all(values[-1] for values in trends.values()), "the snapshot holds this week's fans per tag"
    assert baseline
    print(json.dumps({"fans": args.fans, "fantag_rows": args.fans * 3, "fill_s": fill_s, "snapshot_s": snapshot_s,
                      "tags": len(counts),
                      "tag_list_counts_and_trend": hub_times, "baseline_trend_8_queries": base_times}))


if __name__ == "__main__":
    main()
