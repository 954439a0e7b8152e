"""Audience counts and exports over many fans (issue 21, Speed): N fans, 20 tags, about 3 active tags per fan.

    .venv/bin/python bench/audiences.py --fans 1000000            # SQLite and PostgreSQL
    .venv/bin/python bench/audiences.py --fans 100000 --db sqlite  # a quick run

For each database: three-tag AND / OR / NOT expressions counted through hub.tags.audience_query (p50 / p95 over
--repeat runs of each shape, random tags), beside a hand-written GROUP BY / HAVING query that computes the same
count in the same run; and a saved audience of N/5 fans (the tag 美妆 is on every fifth fan: 200,000 of a million)
exported to CSV through hub.tags.audiences.export_csv (with each fan's openids and tags), beside a plain
`SELECT ... JOIN` written with csv.writer. Every count is checked against the baseline's. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TAGS = ["美妆", "母婴", "已购", "数码", "运动", "旅行", "美食", "家居", "宠物", "汽车", "教育", "游戏", "音乐", "电影",
        "读书", "摄影", "健身", "理财", "服饰", "户外"]
SHAPES = [  # (the audience expression, the same condition over the GROUP BY's per-tag flags a, b, c)
    ("({a} OR {b}) AND NOT {c}", "(a = 1 OR b = 1) AND c = 0"),
    ("{a} AND {b} AND NOT {c}", "a = 1 AND b = 1 AND c = 0"),
    ("({a} AND {b}) OR {c}", "(a = 1 AND b = 1) OR c = 1"),
    ("{a} AND ({b} OR {c})", "a = 1 AND (b = 1 OR c = 1)"),
    ("NOT {a} AND ({b} OR {c})", "a = 0 AND (b = 1 OR c = 1)"),
]
START = datetime(2026, 1, 1, tzinfo=UTC)


def _rows(fans: int, seed: int = 7) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    rng = random.Random(seed)
    fan_rows, tag_rows = [], []
    for fan_id in range(1, fans + 1):
        created = START + timedelta(minutes=rng.randrange(60 * 24 * 300))
        fan_rows.append((fan_id, f"fan {fan_id}", created, created + timedelta(minutes=rng.randrange(60 * 24 * 30))))
        chosen = rng.sample(range(2, len(TAGS) + 1), rng.choice((2, 3, 3)))
        if fan_id % 5 == 0:
            chosen.append(1)  # 美妆: every fifth fan, the export's audience
        for tag_id in chosen:  # 5% inactive (below the profile's threshold), but 美妆 always active: N/5 exactly
            tag_rows.append((fan_id, tag_id, tag_id == 1 or rng.random() > 0.05))
    return fan_rows, tag_rows


def _populate(engine: Engine, fans: int) -> dict[str, float]:
    from hub.core.migrate import upgrade

    upgrade(engine)
    started = time.perf_counter()
    fan_rows, tag_rows = _rows(fans)
    generated = time.perf_counter()
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO account (key, channel, name, token, app_id, app_secret, settings, created_at) "
                          "VALUES ('bench', 'wechat', '', 't', 'wxbench', 's', '{}', :now)"), {"now": now})
        conn.execute(text("INSERT INTO tag (id, name, kind, description, seed_keywords, created_at) "
                          "VALUES (:id, :name, 'interest', '', '[]', :now)"),
                     [{"id": i, "name": name, "now": now} for i, name in enumerate(TAGS, 1)])
        if engine.dialect.name == "postgresql":
            _copy(conn, "fan (id, display_name, created_at, last_seen_at)", fan_rows)
            _copy(conn, "identity (fan_id, account_id, external_id, subscribed, created_at)",
                  [(f[0], 1, f"o-{f[0]}", True, now) for f in fan_rows])
            _copy(conn, "fantag (fan_id, tag_id, active, source, score, evidence, updated_at)",
                  [(*r, "auto", 1.0, "[]", now) for r in tag_rows])
            conn.execute(text("SELECT setval('tag_id_seq', 100)"))
        else:
            raw = conn.connection.driver_connection
            raw.executemany("INSERT INTO fan (id, display_name, created_at, last_seen_at, unionid) "
                            "VALUES (?, ?, ?, ?, NULL)", [(i, n, _lite(c), _lite(s)) for i, n, c, s in fan_rows])
            raw.executemany("INSERT INTO identity (fan_id, account_id, external_id, subscribed, created_at) "
                            "VALUES (?, 1, ?, 1, ?)", [(f[0], f"o-{f[0]}", _lite(now)) for f in fan_rows])
            raw.executemany("INSERT INTO fantag (fan_id, tag_id, active, source, score, evidence, updated_at) "
                            "VALUES (?, ?, ?, 'auto', 1.0, '[]', ?)", [(*r, _lite(now)) for r in tag_rows])
            raw.execute("ANALYZE")
    if engine.dialect.name == "postgresql":  # what autovacuum does soon after a bulk load (index-only scans)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    return {"generate_s": round(generated - started, 1), "insert_s": round(time.perf_counter() - generated, 1),
            "fantag_rows": len(tag_rows)}


def _lite(moment: datetime) -> str:
    return moment.replace(tzinfo=None).isoformat(sep=" ")


def _copy(conn: Any, target: str, rows: list[tuple[Any, ...]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(["t" if v is True else "f" if v is False else v for v in row])
    buffer.seek(0)
    with conn.connection.driver_connection.cursor() as cursor:
        cursor.copy_expert(f"COPY {target} FROM STDIN WITH (FORMAT csv)", buffer)


def _baseline(conn: Any, ids: tuple[int, int, int], condition: str, yes: Any) -> int:
    a, b, c = ids
    sql = (f"SELECT count(*) FROM (SELECT fan_id, max(CASE WHEN tag_id = {a} THEN 1 ELSE 0 END) AS a, "  # noqa: S608
           f"max(CASE WHEN tag_id = {b} THEN 1 ELSE 0 END) AS b, max(CASE WHEN tag_id = {c} THEN 1 ELSE 0 END) AS c "
           f"FROM fantag WHERE active = {yes} AND tag_id IN ({a}, {b}, {c}) GROUP BY fan_id) AS flags "
           f"WHERE {condition}")
    return int(conn.execute(text(sql)).scalar())


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95 + 0.5) - 1)] * 1000, 1)}


def _counts(engine: Engine, repeat: int) -> dict[str, Any]:
    from sqlmodel import Session

    from hub.tags import audience_query as aq

    rng = random.Random(21)
    hub_times: list[float] = []
    base_times: list[float] = []
    shapes: dict[str, Any] = {}
    with Session(engine) as session, engine.connect() as conn:
        yes = "true" if engine.dialect.name == "postgresql" else "1"  # a literal: it matches the partial index
        for shape, condition in SHAPES:
            mine, theirs = [], []
            for _ in range(repeat):
                picked = rng.sample(range(1, len(TAGS) + 1), 3)
                names = dict(zip("abc", (TAGS[i - 1] for i in picked), strict=True))
                expression = shape.format(**names)
                started = time.perf_counter()
                got = aq.count(session, aq.compile_expression(session, expression))
                mine.append(time.perf_counter() - started)
                started = time.perf_counter()
                want = _baseline(conn, tuple(picked), condition, yes)  # type: ignore[arg-type]
                theirs.append(time.perf_counter() - started)
                if got != want:
                    raise SystemExit(f"count mismatch for {expression}: hub {got}, baseline {want}")
            shapes[shape] = {"hub": _ms(mine), "baseline_group_by": _ms(theirs), "last_count": got}
            hub_times += mine
            base_times += theirs
    return {"all_shapes": {"hub": _ms(hub_times), "baseline_group_by": _ms(base_times)}, "shapes": shapes}


def _export(engine: Engine) -> dict[str, Any]:
    from hub.tags import audiences

    state = SimpleNamespace(engine=engine, config=SimpleNamespace(timezone="Asia/Shanghai"))
    started = time.perf_counter()
    total, chunks = audiences.export_csv(state, "美妆")  # type: ignore[arg-type]
    written = sum(len(chunk) for chunk in chunks)
    hub_s = time.perf_counter() - started
    started = time.perf_counter()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    rows = 0
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=5000).execute(text(
            "SELECT fan.id, fan.display_name, fan.created_at, fan.last_seen_at FROM fan "
            "JOIN fantag ON fantag.fan_id = fan.id WHERE fantag.tag_id = 1 AND fantag.active = :yes ORDER BY fan.id"),
            {"yes": True})
        for row in result:
            writer.writerow(row)
            rows += 1
    base_s = time.perf_counter() - started
    if rows != total:
        raise SystemExit(f"export mismatch: hub {total}, baseline {rows}")
    return {"fans": total, "hub_s": round(hub_s, 2), "hub_bytes": written, "baseline_plain_select_s": round(base_s, 2)}


def run(url: str, fans: int, repeat: int) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        out: dict[str, Any] = {"populate": _populate(engine, fans)}
        out["count"] = _counts(engine, repeat)
        out["export"] = _export(engine)
        return out
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fans", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20, help="runs of each expression shape")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    result: dict[str, Any] = {"fans": args.fans, "tags": len(TAGS)}
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="hub-bench-audiences-") as tmp:
            result["sqlite"] = run(f"sqlite:///{Path(tmp) / 'hub.db'}", args.fans, args.repeat)
            print(json.dumps({"sqlite": result["sqlite"]}, ensure_ascii=False), file=sys.stderr)
    if args.db in ("postgresql", "both"):
        from tests.support.servers import PostgresServer

        server = PostgresServer(fsync=True)
        try:
            server.start()
            admin = create_engine(server.url(), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text("CREATE DATABASE bench"))
            admin.dispose()
            result["postgresql"] = run(server.url("bench"), args.fans, args.repeat)
        finally:
            server.close()
    print(summary(result), file=sys.stderr)
    print(json.dumps(result, ensure_ascii=False, indent=1))


def summary(result: dict[str, Any]) -> str:
    """One line per database: the figures the issue asks for."""
    lines = []
    for db in ("sqlite", "postgresql"):
        if db in result:
            r = result[db]
            lines.append(f"{db}: count p95 {r['count']['all_shapes']['hub']['p95_ms']} ms (GROUP BY baseline "
                         f"{r['count']['all_shapes']['baseline_group_by']['p95_ms']} ms); export of "
                         f"{r['export']['fans']} fans {r['export']['hub_s']} s (plain SELECT "
                         f"{r['export']['baseline_plain_select_s']} s)")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
