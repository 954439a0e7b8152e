"""A large hub for the console benchmark: fans with identities, about a million messages, a hundred thousand
tickets in every state with their event log and message links, teams and agents — written with bulk INSERTs
(SQLAlchemy Core executemany) straight into a migrated database."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from hub.core.models import Account, Fan, Identity, Message, User, utcnow
from hub.tickets.models import Agent, Team, TeamMember, Ticket, TicketEvent, TicketMessage

BATCH = 20_000
PASSWORD = "bench-password"
TEXTS = ["我的快递三天了还没到", "这个口红色号还有吗", "怎么修改收货地址", "转人工", "发票怎么开",
         "耳机连不上蓝牙了", "<b>优惠券</b>用不了", "退货流程是什么", "好的谢谢", "会员积分怎么查"]
STATES = ["open"] * 5 + ["assigned"] * 15 + ["waiting"] * 5 + ["resolved"] * 25 + ["closed"] * 50


def _batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert(conn: sa.Connection, table: sa.Table, rows: Iterator[dict[str, Any]]) -> int:
    count = 0
    for batch in _batches(rows):
        conn.execute(sa.insert(table), batch)
        count += len(batch)
    return count


def populate(engine: sa.Engine, *, tickets: int = 100_000, messages: int = 1_000_000, agents: int = 20,
             seed: int = 7, say: Any = print) -> dict[str, Any]:
    """Fill an empty migrated database; returns what the benchmark needs (an agent's e-mail, ticket ids...)."""
    rng = random.Random(seed)
    fans = tickets // 2
    now = utcnow()
    started = time.monotonic()
    with engine.begin() as conn:
        conn.execute(sa.insert(Account.__table__), [
            {"key": "bench", "channel": "wechat", "name": "Bench", "token": "t", "app_id": "wxbench",
             "app_secret": "s", "settings": {}, "created_at": now}])
        conn.execute(sa.insert(Team.__table__), [{"name": name, "skills": skills, "created_at": now}
                                                 for name, skills in (("售后", ["complaint", "human"]),
                                                                      ("数码", ["数码"]))])
        hashed = generate_password_hash(PASSWORD)
        conn.execute(sa.insert(User.__table__), [
            {"email": f"agent{i}@bench.local", "password_hash": hashed, "role": "agent", "display_name": f"客服{i}",
             "active": True, "created_at": now} for i in range(agents)])
        conn.execute(sa.insert(Agent.__table__), [
            {"user_id": i + 1, "capacity": 10_000, "load": 0, "status": "online", "status_by_heartbeat": False,
             "created_at": now} for i in range(agents)])
        conn.execute(sa.insert(TeamMember.__table__), [{"team_id": 1 + i % 2, "user_id": i + 1}
                                                       for i in range(agents)])
        _insert(conn, Fan.__table__, ({"display_name": f"粉丝{i}", "created_at": now, "last_seen_at": now}
                                      for i in range(fans)))
        _insert(conn, Identity.__table__, ({"fan_id": i + 1, "account_id": 1, "external_id": f"o{i:08d}",
                                            "subscribed": True, "last_inbound_at": now, "created_at": now}
                                           for i in range(fans)))
    say(f"fans and identities: {fans} in {time.monotonic() - started:.0f} s")
    per_fan = messages // fans

    def message_rows() -> Iterator[dict[str, Any]]:
        for fan in range(1, fans + 1):
            start = now - timedelta(days=30, minutes=fan % 1000)
            for n in range(per_fan):
                inbound = n % 2 == 0
                moment = start + timedelta(minutes=n * 7)
                yield {"account_id": 1, "fan_id": fan, "identity_id": fan, "direction": "in" if inbound else "out",
                       "kind": "text", "text": rng.choice(TEXTS), "external_id": f"m{fan}-{n}" if inbound else None,
                       "dedupe_key": None if inbound else f"bench:{fan}:{n}", "sent_at": moment,
                       "received_at": moment, "status": "processed" if inbound else "sent",
                       "reply_state": "none", "source": "fan" if inbound else "faq", "via": None if inbound else "api",
                       "attempts": 0, "meta": {}, "raw": ""}

    with engine.begin() as conn:
        written = _insert(conn, Message.__table__, message_rows())
    say(f"messages: {written} in {time.monotonic() - started:.0f} s")

    def ticket_rows() -> Iterator[dict[str, Any]]:
        for n in range(tickets):
            fan = n % fans + 1
            # One active ticket per fan at most (the partial unique index): the fan's second ticket is history.
            status = rng.choice(STATES) if n < fans else rng.choice(["resolved", "closed"])
            created = now - timedelta(days=30) + timedelta(seconds=n * 20)
            held = status in ("assigned", "waiting", "resolved", "closed")
            yield {"account_id": 1, "fan_id": fan, "status": status, "priority": rng.choice([1, 2, 2, 2, 3, 4]),
                   "subject": rng.choice(TEXTS), "channel": "wechat", "intent": rng.choice(["complaint", "human"]),
                   "source": "bot", "reason": "the fan asked for a person", "team_id": 1 + n % 2,
                   "assignee_id": (n % agents) + 1 if held else None, "candidates": [], "sla_warned": [],
                   "first_response_due": created + timedelta(hours=1), "resolution_due": created + timedelta(days=1),
                   "last_fan_message_at": created, "created_at": created, "updated_at": created,
                   "resolved_at": created + timedelta(hours=2) if status in ("resolved", "closed") else None}

    with engine.begin() as conn:
        _insert(conn, Ticket.__table__, ticket_rows())
        # Each ticket holds its fan's first two messages (as if the hand-off came there) and two events.
        ticket_ids = [row[0] for row in conn.execute(sa.select(Ticket.__table__.c.id, Ticket.__table__.c.fan_id)
                                                     .where(Ticket.__table__.c.id <= fans))]
        _insert(conn, TicketMessage.__table__, ({"message_id": (tid - 1) * per_fan + k + 1, "ticket_id": tid}
                                                for tid in ticket_ids for k in range(2)))
        _insert(conn, TicketEvent.__table__, ({"ticket_id": n + 1, "kind": kind, "actor_id": None, "text": "",
                                               "data": {}, "created_at": now}
                                              for n in range(tickets) for kind in ("opened", "assigned")))
        loads = conn.execute(sa.select(Ticket.__table__.c.assignee_id, sa.func.count()).where(
            Ticket.__table__.c.status.in_(("assigned", "waiting"))).group_by(Ticket.__table__.c.assignee_id)).all()
        for agent_id, load in loads:
            conn.execute(sa.update(Agent.__table__).where(Agent.__table__.c.user_id == agent_id).values(load=load))
    say(f"tickets, links and events: {tickets} in {time.monotonic() - started:.0f} s")
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("ANALYZE"))
    return {"agent": "agent0@bench.local", "password": PASSWORD, "fans": fans, "tickets": tickets,
            "messages": written}
