"""Random fans for the audience tests: tags (some inactive), identities on accounts of two channels (subscribed or
not, with referral scenes), inbound messages with intents, tickets in every state, and first-seen / last-active
times; plus the same facts in Python (`FanFacts`) and an evaluator of an expression tree over them."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hub.core.db import session_scope
from hub.core.models import IN, Account, Fan, Identity, Message
from hub.tags.audience_syntax import And, Filter, Node, Not, Or, Tag
from hub.tags.models import FanTag
from hub.tags.models import Tag as TagRow
from hub.tickets.models import Ticket

TAGS = ("美妆", "母婴", "数码", "已购", "运动", "home care")
ACCOUNTS = (("brand", "wechat"), ("shop", "wechat"), ("forum", "community"))
SCENES = (None, "spring", "qrscene_autumn")
INTENTS = ("question", "complaint", "human", "purchase", "chitchat")
TICKET_STATES = ("open", "assigned", "waiting", "resolved", "closed")
NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
ZONE = "Asia/Shanghai"


@dataclass
class FanFacts:
    id: int
    tags: set[str] = field(default_factory=set)
    channels: set[str] = field(default_factory=set)
    accounts: set[str] = field(default_factory=set)
    subscribed: bool = False
    scenes: set[str] = field(default_factory=set)
    intents: set[str] = field(default_factory=set)
    tickets: set[str] = field(default_factory=set)
    created: datetime = NOW
    seen: datetime = NOW


def populate(state: Any, fans: int, seed: int = 7) -> list[FanFacts]:
    """`fans` random fans in the database; their facts."""
    rng = random.Random(seed)
    out: list[FanFacts] = []
    with session_scope(state.engine) as session:
        tags = {}
        for name in TAGS:
            row = TagRow(name=name, kind="system" if name == "已购" else "interest")
            session.add(row)
            session.flush()
            tags[name] = row.id
        accounts = {}
        for key, channel in ACCOUNTS:
            account = Account(key=key, channel=channel, token="t", app_id=f"wx{key}", app_secret="s")
            session.add(account)
            session.flush()
            accounts[key] = account
        for i in range(fans):
            created = NOW - timedelta(hours=rng.randint(0, 24 * 90))
            seen = created + (NOW - created) * rng.random()
            fan = Fan(display_name=f"fan {i}", created_at=created, last_seen_at=seen)
            session.add(fan)
            session.flush()
            facts = FanFacts(fan.id, created=created, seen=seen)
            for name in rng.sample(TAGS, rng.randint(0, 4)):
                active = rng.random() > 0.2
                session.add(FanTag(fan_id=fan.id, tag_id=tags[name], active=active, score=1.0))
                if active:
                    facts.tags.add(name)
            identities = []
            for key in rng.sample([k for k, _ in ACCOUNTS], rng.randint(0, 2)):
                account = accounts[key]
                subscribed, scene = rng.random() > 0.3, rng.choice(SCENES)
                identity = Identity(fan_id=fan.id, account_id=account.id, external_id=f"o-{i}-{key}",
                                    subscribed=subscribed, referral_scene=scene)
                session.add(identity)
                session.flush()
                identities.append(identity)
                facts.accounts.add(key)
                facts.channels.add(account.channel)
                facts.subscribed |= subscribed
                if scene:
                    facts.scenes.add(scene.removeprefix("qrscene_"))
            for n, identity in enumerate(identities):
                for m in range(rng.randint(0, 2)):
                    intent = rng.choice((None, *INTENTS))
                    direction = IN if rng.random() > 0.2 else "out"
                    session.add(Message(account_id=identity.account_id, fan_id=fan.id, identity_id=identity.id,
                                        direction=direction, kind="text", text="…", external_id=f"m{i}-{n}-{m}",
                                        status="processed", meta={"intent": intent} if intent else {}))
                    if intent and direction == IN:
                        facts.intents.add(intent)
                if n == 0 and rng.random() < 0.5:  # one ticket per fan at most (one active per fan)
                    status = rng.choice(TICKET_STATES)
                    session.add(Ticket(account_id=identity.account_id, fan_id=fan.id, status=status))
                    facts.tickets.add(status)
            out.append(facts)
        for n in range(3):  # fans merged into another are tombstones: in no audience, not even NOT x
            session.add(Fan(display_name=f"merged {n}", created_at=NOW - timedelta(days=n), last_seen_at=NOW,
                            merged_into_id=out[0].id if out else None))
    return out


def _local_day(moment: datetime) -> date:
    return moment.astimezone(ZoneInfo(ZONE)).date()


def _dates(node: Filter, fan: FanFacts) -> bool:
    stamp = fan.created if node.field == "first_seen" else fan.seen
    age = node.age()
    if age is not None:
        edge = NOW - age
        return {"<": stamp > edge, "<=": stamp >= edge, ">": stamp < edge, ">=": stamp <= edge}[node.op]
    day, mine = node.day(), _local_day(stamp)
    assert day is not None
    return {">=": mine >= day, ">": mine > day, "<": mine < day, "<=": mine <= day, "=": mine == day}[node.op]


def matches(node: Node, fan: FanFacts) -> bool:
    """The expression evaluated in Python over one fan's facts: what the SQL must agree with."""
    if isinstance(node, Tag):
        return node.name in fan.tags
    if isinstance(node, Not):
        return not matches(node.item, fan)
    if isinstance(node, And):
        return all(matches(item, fan) for item in node.items)
    if isinstance(node, Or):
        return any(matches(item, fan) for item in node.items)
    value = node.value
    if node.field == "channel":
        return value in fan.channels
    if node.field == "account":
        return value in fan.accounts
    if node.field == "subscribed":
        return fan.subscribed == (value == "yes")
    if node.field == "scene":
        return value.removeprefix("qrscene_") in fan.scenes
    if node.field == "intent":
        return value in fan.intents
    if node.field == "ticket":
        active = bool(fan.tickets & {"open", "assigned", "waiting"})
        return {"open": active, "any": bool(fan.tickets), "none": not fan.tickets}.get(value, value in fan.tickets)
    return _dates(node, fan)


LEAVES = (
    *(f'"{t}"' if " " in t else t for t in TAGS),
    "channel:wechat", "channel:community", "account:brand", "account:shop", "subscribed:yes", "subscribed:no",
    "scene:spring", "scene:autumn", "intent:complaint", "intent:purchase", "ticket:open", "ticket:any",
    "ticket:none", "ticket:resolved", "first_seen>=2026-11-01", "first_seen<2026-10-15", "first_seen=2026-11-20",
    "active<30d", "active>=2w", "first_seen<=2026-11-30", "active>2026-11-25",
)
WORDS = {"and": ("AND", "and", "且", "交", "&"), "or": ("OR", "or", "或", "并", "|"), "not": ("NOT", "not", "非", "!")}


def random_expression(rng: random.Random, depth: int = 3) -> str:
    """A random well-formed expression over LEAVES with every spelling of the operators."""
    if depth == 0 or rng.random() < 0.3:
        leaf = rng.choice(LEAVES)
        return f"{rng.choice(WORDS['not'])} {leaf}" if rng.random() < 0.2 else leaf
    op = rng.choice(("and", "or", "diff"))
    parts = [random_expression(rng, depth - 1) for _ in range(rng.randint(2, 3))]
    joined = (" 差 " if op == "diff" else f" {rng.choice(WORDS[op])} ").join(f"({p})" for p in parts)
    return f"{rng.choice(WORDS['not'])} ({joined})" if rng.random() < 0.15 else joined


def expected_ids(node: Node, facts: list[FanFacts]) -> set[int]:
    return {fan.id for fan in facts if matches(node, fan)}


__all__ = ["NOW", "ZONE", "FanFacts", "expected_ids", "matches", "populate", "random_expression"]
