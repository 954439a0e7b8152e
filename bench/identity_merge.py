"""Merging and splitting fans, and what the identity → fan cache check costs the webhook.

    .venv/bin/python bench/identity_merge.py [--messages 10000] [--calls 100000] [--postgres]

1. Two fans (WeChat and forum), each with --messages messages and a ticket: `merge_fans` (identities, messages,
   tickets, tags and profile, the audit row, the cache generation), then `split_identity` back, against the floor
   of the bare UPDATE statements that move the same rows in one transaction.
2. `fan_for` served from the process cache (it asks Redis for the fans' generation at most every 0.1 s), against a
   plain dict lookup.
No interest model is trained here, so the profiles are merged as data (with a model the merge also classifies
every message of the fan, as `hub tags retag` does for one fan). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root, for tests.support


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true", help="a private PostgreSQL cluster (fsync on)")
    args = parser.parse_args()
    from tests.support.servers import RedisServer

    redis_server = RedisServer()
    redis_server.start()
    postgres = None
    if args.postgres:
        from bench.load.processes import PrivatePostgres

        postgres = PrivatePostgres()
        os.environ["HUB_DATABASE_URL"] = postgres.start()
    os.environ["HUB_INSTANCE_PATH"] = tempfile.mkdtemp(prefix="hub-identity-")
    os.environ["HUB_LOG_LEVEL"] = "WARNING"
    os.environ["HUB_REDIS_URL"] = redis_server.url
    try:
        print(json.dumps(_measure(args), ensure_ascii=False))
    finally:
        redis_server.close()
        if postgres:
            postgres.close()


def _fan_with_messages(state: Any, account_id: int, sender: str, count: int) -> tuple[int, int]:
    from sqlalchemy import insert

    from hub.core.db import session_scope
    from hub.core.models import Fan, Identity, Message, utcnow
    from hub.tickets.models import Ticket

    now = utcnow()
    with session_scope(state.engine) as session:
        fan = Fan(display_name="")
        session.add(fan)
        session.flush()
        identity = Identity(fan_id=fan.id, account_id=account_id, external_id=sender)
        session.add(identity)
        session.flush()
        rows = [dict(account_id=account_id, fan_id=fan.id, identity_id=identity.id, direction="in", kind="text",
                     text=f"消息 {n}", external_id=f"{sender}-{n}", sent_at=now, received_at=now, status="processed",
                     reply_state="none", source="fan", attempts=0, meta={}, raw="") for n in range(count)]
        for start in range(0, count, 5000):
            session.execute(insert(Message), rows[start:start + 5000])
        session.add(Ticket(account_id=account_id, fan_id=fan.id, status="open"))
        return int(fan.id), int(identity.id)


def _measure(args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import update

    from channels.base import InboundMessage
    from hub.app import create_state
    from hub.conversation import merge_fans, split_identity
    from hub.core.db import session_scope
    from hub.core.migrate import upgrade
    from hub.core.models import Account, Identity, Message, utcnow
    from hub.core.state import set_current
    from hub.intake.accept import fan_for
    from hub.tickets.models import Ticket

    state = create_state()
    set_current(state)
    upgrade(state.engine, "head")
    with session_scope(state.engine) as session:
        wechat, forum = Account(key="wechat", channel="wechat"), Account(key="forum", channel="community")
        session.add_all([wechat, forum])
        session.flush()
        ids = int(wechat.id), int(forum.id)

    a, _ = _fan_with_messages(state, ids[0], "o-a", args.messages)
    b, b_identity = _fan_with_messages(state, ids[1], "forum:b", args.messages)
    started = time.perf_counter()
    merge_fans(state, a, b)
    merge_s = time.perf_counter() - started
    started = time.perf_counter()
    split_identity(state, b_identity)
    split_s = time.perf_counter() - started

    c, _ = _fan_with_messages(state, ids[0], "o-c", args.messages)
    d, _ = _fan_with_messages(state, ids[1], "forum:d", args.messages)
    started = time.perf_counter()
    with state.engine.begin() as conn:  # the floor: the same rows moved by bare statements
        for model in (Identity, Message, Ticket):
            conn.execute(update(model).where(model.fan_id == d).values(fan_id=c))
    floor_s = time.perf_counter() - started

    inbound = InboundMessage(channel="wechat", account="wechat", sender="o-a", kind="text", text="hi",
                             external_id="x", sent_at=utcnow())
    fan_for(state, ids[0], inbound)
    started = time.perf_counter()
    for _ in range(args.calls):
        fan_for(state, ids[0], inbound)
    cached_us = (time.perf_counter() - started) / args.calls * 1e6
    plain = {(ids[0], "o-a"): object()}
    started = time.perf_counter()
    for _ in range(args.calls):
        plain.get((ids[0], "o-a"))
    plain_us = (time.perf_counter() - started) / args.calls * 1e6
    return {
        "database": state.engine.dialect.name, "messages_per_fan": args.messages,
        "merge_s": round(merge_s, 3), "split_s": round(split_s, 3), "floor_updates_s": round(floor_s, 3),
        "fan_for_cached_us": round(cached_us, 2), "plain_dict_lookup_us": round(plain_us, 3),
    }


if __name__ == "__main__":
    main()
