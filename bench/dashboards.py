"""How fast the operator's dashboards answer over 90 days of 10,000,000 messages (issue 21: under 1 s), on SQLite
and PostgreSQL: the rollups' first build and an incremental refresh, then each dashboard end to end through the
Flask test client (its page and its JSON, a signed-in operator, p50/p95), next to the straightforward SQL over the
raw tables that the same charts would need without rollups, in the same run.

    .venv/bin/python bench/dashboards.py                           # 10M messages, SQLite then PostgreSQL
    .venv/bin/python bench/dashboards.py --messages 200000 --db sqlite
    .venv/bin/python bench/dashboards.py --messages 1000000 --json

The data (tests/reports/factory.py): two accounts, a fan per 20 generated messages with interest tags, fans'
messages tagged with interests, subscribe/unsubscribe events, bot answers, suggestion lists, hand-offs with
tickets (first responses, resolutions, SLA breaches, CSAT) and agents' replies, ids in time order. `--generate`
messages (default 1,000,000) are made row by row over the first slice of the days; the rest are copies of them
made in SQL, each shifted one slice later (INSERT ... SELECT), so that 10,000,000 take minutes, not an hour.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load.processes import PrivatePostgres  # noqa: E402
from tests.support.servers import RedisServer  # noqa: E402

TARGET_MS = 1000.0
PASSWORD = "bench-password"  # noqa: S105 - a throwaway user of a throwaway database
TZ = "Asia/Shanghai"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def timed(call: Callable[[], Any], repeat: int) -> dict[str, float]:
    call()  # warm
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": statistics.median(samples), "p95_ms": percentile(samples, 0.95), "n": repeat}


def signed_in(app: Any) -> Any:
    from werkzeug.security import generate_password_hash

    from hub.core.db import session_scope
    from hub.core.models import User

    with session_scope(app.extensions["hub"].engine) as session:
        session.add(User(email="op@bench.test", role="operator", password_hash=generate_password_hash(PASSWORD)))
    client = app.test_client()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    answer = client.post("/login", data={"email": "op@bench.test", "password": PASSWORD, "csrf_token": token})
    if answer.status_code != 302:
        raise RuntimeError("could not sign in")
    return client


def _shift(engine: sa.Engine, column: str, seconds: int) -> str:
    if engine.dialect.name == "postgresql":
        return f"{column} + INTERVAL '{seconds} seconds'"
    return f"strftime('%Y-%m-%d %H:%M:%f000', {column}, '+{seconds} seconds')"  # as SQLAlchemy stores it


def replicate(engine: sa.Engine, base: Any, copies: int, span_seconds: int) -> int:
    """Copies 1..copies of the generated messages and tickets, each `span_seconds` later than the one before, with
    ids after them (INSERT ... SELECT: far faster than generating every row in Python)."""
    from hub.core.models import Message
    from hub.tickets.models import Ticket

    ids = {"message": base.last_id, "ticket": base.tickets}
    shifted_ids = {"message": {"id", "reply_to_id"}, "ticket": {"id", "first_message_id", "last_message_id"}}
    suffixed = {"external_id", "dedupe_key"}
    with engine.begin() as conn:
        for copy in range(1, copies + 1):
            for table in (Message.__table__, Ticket.__table__):
                offsets = {"message": base.last_id * copy, "ticket": base.tickets * copy}
                select = []
                for column in table.columns:
                    name = column.name
                    if name in shifted_ids[table.name]:
                        target = "message" if name != "id" or table.name == "message" else "ticket"
                        select.append(f"{name} + {offsets[target]}")
                    elif name in suffixed:
                        select.append(f"{name} || '-{copy}'")
                    elif isinstance(column.type, sa.DateTime) or "DateTime" in type(column.type).__name__:
                        select.append(_shift(engine, name, span_seconds * copy))
                    else:
                        select.append(name)
                columns = ", ".join(c.name for c in table.columns)
                conn.execute(sa.text(f"INSERT INTO {table.name} ({columns}) SELECT {', '.join(select)} "  # noqa: S608
                                     f"FROM {table.name} WHERE id <= {ids[table.name]}"))
        if engine.dialect.name == "postgresql":
            for table in ("message", "ticket"):
                conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                                     f"(SELECT MAX(id) FROM {table}))"))
    return base.messages * (copies + 1)


def ticket_day_sqls(d: Any) -> dict[str, str]:
    """The ticket figures per day the straightforward way: one GROUP BY per figure over the ticket table."""
    def by(column: str, figures: str) -> str:
        return (f"SELECT {d.day(column)} AS day, account_id, {figures} FROM ticket "  # noqa: S608
                f"WHERE {column} >= :since GROUP BY 1, 2")
    csat = ", ".join(f"SUM(CASE WHEN csat_score = {n} THEN 1 ELSE 0 END)" for n in range(1, 6))
    return {
        "opened": by("created_at", "COUNT(*)"),
        "resolved,resolution_seconds,csat_1,csat_2,csat_3,csat_4,csat_5": by(
            "resolved_at", f"COUNT(*), SUM({d.seconds('created_at', 'resolved_at')}), {csat}"),
        "first_responses,first_response_seconds": by(
            "first_response_at", f"COUNT(*), SUM({d.seconds('created_at', 'first_response_at')})"),
        "first_response_breaches": by("first_response_breached_at", "COUNT(*)"),
        "resolution_breaches": by("resolution_breached_at", "COUNT(*)"),
    }


def baseline(engine: sa.Engine, name: str, start: datetime) -> Callable[[], Any]:
    """The same charts without rollups: the aggregate SQL over every raw row of the range."""
    from hub.reports import facts

    d = facts.Dialect(engine.dialect.name, facts.utc_offset_minutes(TZ))
    sqls = {"messages": [facts.message_day_sql(d)],
            "service": list(ticket_day_sqls(d).values()),
            "fans": [facts.interest_day_sql(d), facts.subscribe_day_sql(d), facts.SNAPSHOT_SQL]}[name]

    def run() -> None:
        with engine.connect() as conn:
            for sql in sqls:
                conn.execute(sa.text(sql), {"lo": 0, "hi": 2**62, "since": d.moment(start), "active": True}).all()
    return run


def bench_one(url: str, tmp: Path, redis_url: str, args: argparse.Namespace, say: Callable[[str], None]) -> dict:
    from hub.app import create_app
    from hub.core.migrate import upgrade
    from hub.reports import DASHBOARDS, refresh
    from tests.reports.factory import populate

    engine = sa.create_engine(url)
    upgrade(engine)
    end = datetime.now(UTC) - timedelta(minutes=10)
    started = time.perf_counter()
    copies = max(1, args.messages // args.generate)  # generate a slice of days, then copy it forward in SQL
    span = timedelta(days=args.days) / copies
    made = populate(engine, messages=args.messages // copies, days=args.days / copies, seed=1, bulk=True,
                    end=end - timedelta(days=args.days) + span)
    messages = replicate(engine, made, copies - 1, int(span.total_seconds())) if copies > 1 else made.messages
    generate_s = time.perf_counter() - started
    say(f"{engine.dialect.name}: generated {messages:,} messages ({made.messages:,} made, {copies - 1} copies), "
        f"{made.tickets * copies:,} tickets, {made.fans:,} fans in {generate_s:.0f} s")
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
    build = refresh(engine, TZ)
    say(f"  rollups built in {build.seconds:.1f} s ({build})")
    with engine.connect() as conn:  # a sanity check: every message is in the rollups once
        rolled = conn.execute(sa.text("SELECT SUM(messages_in + messages_out) FROM report_message_day")).scalar()
        stored = conn.execute(sa.text("SELECT COUNT(*) FROM message")).scalar()
    if rolled != stored:
        raise RuntimeError(f"the rollups hold {rolled} messages, the table {stored}")
    extra = max(1000, args.messages // 1000)
    populate(engine, messages=extra, days=0.01, seed=2, end=datetime.now(UTC) - timedelta(minutes=5),
             accounts=made.accounts)
    incremental = refresh(engine, TZ)
    say(f"  incremental refresh after {extra:,} new messages: {incremental.seconds:.2f} s")
    app = create_app({"instance_path": str(tmp / "instance"), "database_url": url, "redis_url": redis_url,
                      "secret_key": "bench", "log_level": "WARNING", "testing": True})
    client = signed_in(app)
    today = (datetime.now(UTC) + timedelta(hours=8)).date()
    first = today - timedelta(days=args.days)
    query = f"start={first.isoformat()}&end={today.isoformat()}"
    rows: dict[str, dict[str, float]] = {}
    for name in DASHBOARDS:
        def page(name: str = name) -> None:
            for path in (f"/operator/dashboards/{name}?{query}", f"/api/v1/dashboards/{name}?{query}"):
                answer = client.get(path)
                if answer.status_code != 200:
                    raise RuntimeError(f"{path}: {answer.status_code}")
        rows[f"dashboard {name} (page + JSON)"] = timed(page, args.repeat)
        rows[f"baseline SQL over raw rows: {name}"] = timed(baseline(engine, name, end - timedelta(days=args.days)),
                                                            args.baseline_repeat)
        say(f"  {name}: p95 {rows[f'dashboard {name} (page + JSON)']['p95_ms']:.1f} ms, baseline p50 "
            f"{rows[f'baseline SQL over raw rows: {name}']['p50_ms']:.0f} ms")
    app.extensions["hub"].engine.dispose()
    engine.dispose()
    ok = all(v["p95_ms"] < TARGET_MS for k, v in rows.items() if k.startswith("dashboard"))
    return {"database": engine.dialect.name, "messages": messages, "tickets": made.tickets * copies, "fans": made.fans,
            "days": args.days, "generate_s": round(generate_s, 1), "build_s": round(build.seconds, 2),
            "incremental_messages": extra, "incremental_s": round(incremental.seconds, 3), "rows": rows,
            "verdict": "PASS" if ok else "MISS"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--generate", type=int, default=1_000_000,
                        help="messages made row by row; the rest are copies of them shifted in time")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--baseline-repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    say = (lambda *_: None) if args.json else (lambda text: print(text, flush=True))
    tmp = Path(tempfile.mkdtemp(prefix="hub-dashboards-bench-"))
    redis_server = RedisServer()
    redis_server.start()
    results = []
    try:
        if args.db in ("sqlite", "both"):
            results.append(bench_one(f"sqlite:///{tmp / 'hub.db'}", tmp / "sqlite", redis_server.url, args, say))
        if args.db in ("postgresql", "both"):
            postgres = PrivatePostgres()
            try:
                results.append(bench_one(postgres.start(), tmp / "pg", redis_server.url, args, say))
            finally:
                postgres.close()
    finally:
        redis_server.close()
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
    else:
        for result in results:
            print(f"\n{result['database']}: {result['messages']:,} messages over {result['days']} days; rollups "
                  f"built in {result['build_s']} s; refresh after {result['incremental_messages']:,} new messages "
                  f"{result['incremental_s']} s")
            print(f"{'':48} {'p50 ms':>9} {'p95 ms':>9}")
            for name, figures in result["rows"].items():
                print(f"{name:48} {figures['p50_ms']:9.1f} {figures['p95_ms']:9.1f}")
            print(f"dashboards p95 < {TARGET_MS:.0f} ms: {result['verdict']}")
    return 0 if all(r["verdict"] == "PASS" for r in results) else 2


if __name__ == "__main__":
    sys.exit(main())
