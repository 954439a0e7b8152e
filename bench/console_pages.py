"""How fast the agent console renders on a big hub: the queue page and the conversation page with 100,000 tickets
and 1,000,000 messages (PostgreSQL by default), p50/p95 over repeated requests, next to the bare queries of the
same rows in the same run (the floor: what the database alone costs).

    .venv/bin/python bench/console_pages.py                  # a private PostgreSQL cluster, 100k tickets, 1M messages
    .venv/bin/python bench/console_pages.py --sqlite          # the embedded default
    .venv/bin/python bench/console_pages.py --tickets 20000 --messages 200000 --json

The pages are requested through the Flask app in-process (a signed-in agent's session, real Redis), so the
figures are the server's rendering time without HTTP; target: p95 < 200 ms for both pages.
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
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.console_data import populate  # noqa: E402
from bench.load.processes import PrivatePostgres  # noqa: E402
from bench.load.report import percentile  # noqa: E402
from tests.support.servers import RedisServer  # noqa: E402

TARGET_P95_MS = 200.0


def timed(call: Callable[[], Any], repeat: int) -> dict[str, float]:
    call()  # warm
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {"p50_ms": round(statistics.median(samples), 1), "p95_ms": round(percentile(samples, 95), 1)}


def signed_in(app: Any, email: str, password: str) -> Any:
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page)
    answer = client.post("/login", data={"email": email, "password": password,
                                         "csrf_token": token.group(1) if token else ""})
    if answer.status_code not in (302, 303):
        raise RuntimeError(f"could not sign in: {answer.status_code}")
    return client


def bare_queue(engine: sa.Engine, agent_id: int) -> Callable[[], Any]:
    """The queue's rows as one plain SQL query: the agent's active tickets, newest first, 50."""
    query = sa.text("SELECT t.id, t.subject, t.status, t.priority, f.display_name FROM ticket t "
                    "JOIN fan f ON f.id = t.fan_id WHERE t.assignee_id = :agent "
                    "AND t.status IN ('open', 'assigned', 'waiting') ORDER BY t.id DESC LIMIT 50")

    def run() -> Any:
        with engine.connect() as conn:
            return conn.execute(query, {"agent": agent_id}).all()
    return run


def bare_conversation(engine: sa.Engine, ticket_id: int, fan_id: int) -> Callable[[], Any]:
    """The conversation's rows as plain SQL: the ticket, the fan's newest 50 messages, the ticket's events."""
    def run() -> Any:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT * FROM ticket WHERE id = :id"), {"id": ticket_id}).all()
            conn.execute(sa.text("SELECT * FROM message WHERE fan_id = :fan ORDER BY id DESC LIMIT 50"),
                         {"fan": fan_id}).all()
            return conn.execute(sa.text("SELECT * FROM ticketevent WHERE ticket_id = :id ORDER BY id"),
                                {"id": ticket_id}).all()
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sqlite", action="store_true", help="the embedded SQLite instead of PostgreSQL")
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    say = (lambda *_: None) if args.json else (lambda text: print(text, flush=True))
    from hub.app import create_app
    from hub.core.migrate import upgrade

    tmp = Path(tempfile.mkdtemp(prefix="hub-console-bench-"))
    redis_server = RedisServer()
    redis_server.start()
    postgres = None
    if args.sqlite:
        url = f"sqlite:///{tmp / 'hub.db'}"
    else:
        postgres = PrivatePostgres()
        url = postgres.start()
    try:
        engine = sa.create_engine(url)
        upgrade(engine)
        facts = populate(engine, tickets=args.tickets, messages=args.messages, say=say)
        app = create_app({"instance_path": str(tmp / "instance"), "database_url": url, "redis_url": redis_server.url,
                          "secret_key": "bench", "log_level": "WARNING"})
        client = signed_in(app, facts["agent"], facts["password"])
        with engine.connect() as conn:
            agent_id = conn.execute(sa.text("SELECT id FROM \"user\" WHERE email = :e"), {"e": facts["agent"]}).scalar()
            ticket_id, fan_id = conn.execute(sa.text(
                "SELECT id, fan_id FROM ticket WHERE assignee_id = :a AND status = 'assigned' "
                "ORDER BY id DESC LIMIT 1"), {"a": agent_id}).one()

        def page(path: str) -> Callable[[], Any]:
            def get() -> Any:
                answer = client.get(path)
                if answer.status_code != 200:
                    raise RuntimeError(f"{path}: {answer.status_code}")
                return answer
            return get

        rows = {
            "queue page (my tickets)": timed(page("/queue"), args.repeat),
            "queue page (all, page 1)": timed(page("/queue?tab=all"), args.repeat),
            "conversation page": timed(page(f"/tickets/{ticket_id}"), args.repeat),
            "bare query: the queue's rows": timed(bare_queue(engine, agent_id), args.repeat),
            "bare query: the conversation's rows": timed(bare_conversation(engine, ticket_id, fan_id), args.repeat),
        }
        ok = all(rows[name]["p95_ms"] < TARGET_P95_MS for name in rows if "page" in name)
        result = {"database": engine.dialect.name, **facts, "target_p95_ms": TARGET_P95_MS, "rows": rows,
                  "verdict": "PASS" if ok else "MISS"}
        if args.json:
            print(json.dumps(result, ensure_ascii=False))
        else:
            print(f"\n{engine.dialect.name}: {facts['tickets']:,} tickets, {facts['messages']:,} messages, "
                  f"{args.repeat} requests each")
            print(f"{'':40} {'p50 ms':>8} {'p95 ms':>8}")
            for name, figures in rows.items():
                print(f"{name:40} {figures['p50_ms']:8.1f} {figures['p95_ms']:8.1f}")
            print(f"pages p95 < {TARGET_P95_MS:.0f} ms: {result['verdict']}")
        return 0 if ok else 2
    finally:
        redis_server.close()
        if postgres is not None:
            postgres.close()


if __name__ == "__main__":
    sys.exit(main())
