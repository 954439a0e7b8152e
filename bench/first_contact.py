"""First contact: how fast the webhook path creates the fan and identity of fans it has never seen (a QR-code
campaign brings thousands at once), against the floor of the same two INSERTs in one bare Core transaction.

    .venv/bin/python bench/first_contact.py [--fans 400] [--threads 8] [--postgres | --database-url URL]

Runs `hub.intake.accept.fan_for` for new senders, one thread and then --threads threads (each a separate sender, so
no two race for one fan), on a fresh SQLite file (default) or a private PostgreSQL cluster with fsync on.
Prints one JSON object: per-fan p50/p99 ms serially, fans/s with threads, and the same for the floor.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root, for tests.support


def _serial(create: Callable[[str], Any], fans: int, tag: str) -> dict[str, float]:
    took = []
    for i in range(fans):
        started = time.perf_counter()
        create(f"{tag}-{i}")
        took.append((time.perf_counter() - started) * 1000)
    took.sort()
    return {"p50_ms": round(took[len(took) // 2], 2), "p99_ms": round(took[int(len(took) * 0.99)], 2)}


def _threaded(create: Callable[[str], Any], fans: int, threads: int, tag: str) -> float:
    def run(n: int) -> None:
        for i in range(fans // threads):
            create(f"{tag}-{n}-{i}")

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return round(fans // threads * threads / (time.perf_counter() - started), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fans", type=int, default=400)
    parser.add_argument("--threads", type=int, default=8)
    db = parser.add_mutually_exclusive_group()
    db.add_argument("--postgres", action="store_true", help="a private PostgreSQL cluster (fsync on)")
    db.add_argument("--database-url")
    args = parser.parse_args()

    postgres = None
    if args.postgres:
        from bench.load.processes import PrivatePostgres

        postgres = PrivatePostgres()
        args.database_url = postgres.start()
    os.environ["HUB_INSTANCE_PATH"] = tempfile.mkdtemp(prefix="hub-first-contact-")
    os.environ["HUB_LOG_LEVEL"] = "WARNING"
    if args.database_url:
        os.environ["HUB_DATABASE_URL"] = args.database_url
    try:
        print(json.dumps(_measure(args), ensure_ascii=False))
    finally:
        if postgres:
            postgres.close()


def _measure(args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import insert

    from channels.base import InboundMessage
    from hub.app import create_state
    from hub.core.db import session_scope
    from hub.core.migrate import upgrade
    from hub.core.models import Account, Fan, Identity, utcnow
    from hub.intake.accept import fan_for

    state = create_state()
    upgrade(state.engine, "head")
    with session_scope(state.engine) as session:
        account = Account(key="bench", channel="wechat")
        session.add(account)
        session.flush()
        account_id = int(account.id)

    def hub_path(sender: str) -> Any:
        return fan_for(state, account_id, InboundMessage(
            channel="wechat", account="bench", sender=sender, kind="text", text="hi", external_id=sender,
            sent_at=utcnow()))

    def floor(sender: str) -> None:
        now = utcnow()
        with state.engine.begin() as conn:
            fan_id = conn.execute(insert(Fan).values(display_name="", created_at=now, last_seen_at=now)
                                  .returning(Fan.id)).scalar_one()
            conn.execute(insert(Identity).values(fan_id=fan_id, account_id=account_id, external_id=sender,
                                                 subscribed=True, created_at=now))

    return {
        "database": state.engine.dialect.name, "fans": args.fans, "threads": args.threads,
        "hub_serial": _serial(hub_path, args.fans, "hub"), "floor_serial": _serial(floor, args.fans, "floor"),
        "hub_fans_per_s": _threaded(hub_path, args.fans, args.threads, "hub-t"),
        "floor_fans_per_s": _threaded(floor, args.fans, args.threads, "floor-t"),
    }


if __name__ == "__main__":
    main()
