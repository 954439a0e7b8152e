"""Random hub data for the dashboards' tests and bench: accounts, fans with identities (subscribe state and referral
scenes), interest tags on fans, and messages over many days — fans' texts tagged with interests, subscribe and
unsubscribe events, the bots' answers, suggestion lists and hand-off notices, agents' replies — with tickets
(first responses, resolutions, SLA breaches, CSAT). Written with bulk INSERTs (SQLAlchemy Core executemany)."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from hub.core.models import Account, Fan, Identity, Message
from hub.tags.models import FanTag, Tag
from hub.tickets.models import Ticket

BATCH = 20_000
TAGS = ["美妆", "数码", "汽车", "母婴", "运动"]
SCENES = ["spring_promo", "store_qr", "=evil", None]
TEXTS = ["这个口红色号还有吗", "耳机连不上蓝牙了", "退货流程是什么", "转人工", "好的谢谢"]


@dataclass
class Made:
    accounts: list[int]
    fans: int
    messages: int
    tickets: int
    first_id: int
    last_id: int


def _aware(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _copy_value(value: Any) -> str:
    kind = type(value)
    if kind is int:
        return str(value)
    if value is None:
        return "\\N"
    if kind is bool:
        return "t" if value else "f"
    if kind is dict or kind is list:
        value = json.dumps(value, ensure_ascii=False)
    elif kind is datetime:
        value = value.isoformat()
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def _copy(conn: sa.Connection, table: sa.Table, rows: Iterator[dict[str, Any]]) -> int:
    """PostgreSQL's COPY, in the connection's transaction: several times faster than INSERTs for millions of rows."""
    count, columns, buffer = 0, None, io.StringIO()
    cursor = conn.connection.dbapi_connection.cursor()

    def flush() -> None:
        buffer.seek(0)
        cursor.copy_expert(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN", buffer)
        buffer.seek(0)
        buffer.truncate()
    for row in rows:
        columns = columns or list(row)
        buffer.write("\t".join(_copy_value(row[c]) for c in columns) + "\n")
        count += 1
        if count % (BATCH * 5) == 0:
            flush()
    if columns and buffer.tell():
        flush()
    return count


def _insert(conn: sa.Connection, table: sa.Table, rows: Iterator[dict[str, Any]]) -> int:
    if conn.dialect.name == "postgresql":
        return _copy(conn, table, rows)
    count, batch = 0, []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            conn.execute(sa.insert(table), batch)
            count += len(batch)
            batch = []
    if batch:
        conn.execute(sa.insert(table), batch)
        count += len(batch)
    return count


def _base_message(**values: Any) -> dict[str, Any]:
    row = dict(kind="text", text="", event=None, event_key=None, external_id=None, dedupe_key=None, status="processed",
               reply_state="none", reply_to_id=None, source="fan", via=None, attempts=1, error_code=None,
               error_message=None, enqueued_at=None, processing_started_at=None, processed_at=None, meta={}, raw="")
    row.update(values)
    return row


def populate(engine: sa.Engine, *, messages: int = 2000, days: int = 20, fans: int | None = None, seed: int = 1,
             end: datetime | None = None, accounts: list[int] | None = None, bulk: bool = False) -> Made:
    """About `messages` messages over the `days` before `end` (default now), ids in time order. Called again with
    the same accounts, it adds more (new fans, messages and tickets). `bulk` (PostgreSQL, a superuser: the
    bench's private cluster) skips the foreign-key triggers while loading: the rows are consistent by making."""
    rng = random.Random(seed)
    end = _aware(end or datetime.now(UTC))
    start = end - timedelta(days=days)
    fans = fans or max(10, messages // 20)
    with engine.begin() as conn:
        if bulk and conn.dialect.name == "postgresql":
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        if accounts is None:
            accounts = [conn.execute(sa.insert(Account.__table__).returning(Account.__table__.c.id), {
                "key": f"acct{seed}{n}", "channel": channel, "name": f"账号{n}", "token": "t", "app_id": f"wx{seed}{n}",
                "app_secret": "s", "aes_key": None, "api_base": None, "settings": {}, "created_at": start,
            }).scalar_one() for n, channel in enumerate(("wechat", "community"))]
            for name in TAGS:
                if conn.execute(sa.select(Tag.__table__.c.id).where(Tag.__table__.c.name == name)).first() is None:
                    conn.execute(sa.insert(Tag.__table__), {"name": name, "kind": "interest", "description": "",
                                                            "seed_keywords": [], "created_at": start})
        tag_ids = [r[0] for r in conn.execute(sa.select(Tag.__table__.c.id).where(Tag.__table__.c.name.in_(TAGS)))]
        first_fan = (conn.execute(sa.select(sa.func.max(Fan.__table__.c.id))).scalar() or 0) + 1
        _insert(conn, Fan.__table__, ({"id": first_fan + i, "unionid": None, "display_name": f"fan{i}",
                                       "created_at": start, "last_seen_at": end} for i in range(fans)))
        first_identity = (conn.execute(sa.select(sa.func.max(Identity.__table__.c.id))).scalar() or 0) + 1
        identity_account = [rng.choice(accounts) for _ in range(fans)]
        _insert(conn, Identity.__table__, (
            {"id": first_identity + i, "fan_id": first_fan + i, "account_id": identity_account[i],
             "external_id": f"o{seed}-{first_fan + i}", "subscribed": True, "subscribed_at": start,
             "unsubscribed_at": None, "referral_scene": rng.choice(SCENES), "last_inbound_at": None,
             "created_at": start} for i in range(fans)))
        _insert(conn, FanTag.__table__, (
            {"fan_id": first_fan + i, "tag_id": tag, "source": "auto", "active": rng.random() < 0.8,
             "score": 0.5, "evidence": [], "updated_at": end}
            for i in range(fans) for tag in rng.sample(tag_ids, rng.randint(0, 3))))
        first_id = (conn.execute(sa.select(sa.func.max(Message.__table__.c.id))).scalar() or 0) + 1
        first_ticket = (conn.execute(sa.select(sa.func.max(Ticket.__table__.c.id))).scalar() or 0) + 1
        tickets: list[dict[str, Any]] = []
        step = (end - start) / max(1, messages)
        next_id = [first_id]

        def rows() -> Iterator[dict[str, Any]]:
            made = 0
            while made < messages:
                at = start + step * made
                fan = rng.randrange(fans)
                common = {"account_id": identity_account[fan], "fan_id": first_fan + fan,
                          "identity_id": first_identity + fan, "sent_at": at, "received_at": at}
                in_id = next_id[0]
                roll = rng.random()
                if roll < 0.05:
                    event = rng.choice(("subscribe", "unsubscribe"))
                    scene = rng.choice(SCENES) if event == "subscribe" else None
                    yield _base_message(id=in_id, direction="in", kind="event", event=event,
                                        external_id=f"e{seed}-{in_id}", meta={"scene": scene} if scene else {},
                                        **common)
                    next_id[0] += 1
                    made += 1
                    continue
                meta: dict[str, Any] = {"intent": "question"}
                if rng.random() < 0.8:
                    meta["interests"] = [{"tag": t, "p": 0.6} for t in rng.sample(TAGS, rng.randint(1, 2))]
                yield _base_message(id=in_id, direction="in", text=rng.choice(TEXTS), external_id=f"m{seed}-{in_id}",
                                    meta=meta, reply_state="async", **common)
                next_id[0] += 1
                made += 1
                outcome = rng.random()
                out_meta: dict[str, Any] = {}
                if outcome < 0.45:
                    source = rng.choice(("keyword", "faq"))
                elif outcome < 0.6:
                    source, out_meta = "faq", {"suggestions": ["e1", "e2"]}
                elif outcome < 0.75:
                    source = rng.choice(("faq", "intent"))
                    out_meta = {"ticket_id": first_ticket + len(tickets)}
                    tickets.append(_ticket(rng, first_ticket + len(tickets), common, in_id, at, end))
                elif outcome < 0.85:
                    source = f"agent:{rng.randint(1, 3)}"
                    out_meta = {"ticket_id": first_ticket}
                elif outcome < 0.9:
                    source = rng.choice(("default", "welcome", "csat"))
                else:
                    continue
                out_at = at + step / 2
                yield _base_message(id=next_id[0], direction="out", text="答复", dedupe_key=f"r{seed}-{in_id}",
                                    status="sent", reply_to_id=in_id, source=source, via="api", meta=out_meta,
                                    **{**common, "sent_at": out_at, "received_at": out_at})
                next_id[0] += 1
                made += 1

        count = _insert(conn, Message.__table__, rows())
        _insert(conn, Ticket.__table__, iter(tickets))
        if conn.dialect.name == "postgresql":  # the rows came with their ids: move the sequences past them
            for table in ("fan", "identity", "fantag", "message", "ticket", "tag", "account"):
                sql = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"  # noqa: S608
                conn.execute(sa.text(sql))
    return Made(accounts, fans, count, len(tickets), first_id, next_id[0] - 1)


def _ticket(rng: random.Random, ticket_id: int, common: dict[str, Any], message_id: int, at: datetime,
            end: datetime) -> dict[str, Any]:
    def later(hours: float) -> datetime | None:
        moment = at + timedelta(hours=rng.uniform(0, hours))
        return moment if moment <= end else None
    first = later(6) if rng.random() < 0.8 else None
    resolved = later(72) if first and rng.random() < 0.7 else None
    return {
        "id": ticket_id, "account_id": common["account_id"], "fan_id": common["fan_id"],
        "status": "resolved" if resolved else "closed", "priority": 2, "subject": "",  # one active ticket per fan
        "channel": "wechat", "intent": "question", "source": "bot", "reason": "", "team_id": None, "assignee_id": None,
        "first_message_id": message_id, "last_message_id": message_id, "candidates": [],
        "first_response_due": at + timedelta(hours=1), "resolution_due": at + timedelta(hours=24), "paused_at": None,
        "first_response_at": first, "sla_warned": [],
        "first_response_breached_at": later(3) if rng.random() < 0.2 else None,
        "resolution_breached_at": later(48) if rng.random() < 0.1 else None, "escalated_at": None,
        "last_fan_message_at": at, "resolved_at": resolved, "closed_at": None, "merged_into_id": None,
        "csat_requested_at": resolved, "csat_score": rng.randint(1, 5) if resolved and rng.random() < 0.6 else None,
        "csat_comment": None, "created_at": at, "updated_at": resolved or first or at,
    }
