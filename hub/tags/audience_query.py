"""An audience expression (hub.tags.audience_syntax) as SQL: the set of matching fan ids, counted, sampled and read.

Each leaf is a SELECT of fan ids (a tag: its active FanTag rows through the partial index ix_fantag_active_tag_fan;
a filter: identities, accounts, messages, tickets or the fan row); AND, OR and NOT become INTERSECT, UNION and
EXCEPT, so the database works on sorted id lists rather than visiting every fan. SQLite cannot parenthesise a
compound SELECT, so a nested one is wrapped as a sub-query (`SELECT fan_id FROM (...)`); on SQLite the outermost
compound is ordered by fan id, which lets SQLite merge the sorted inputs instead of building temporary B-trees.

The ticket filter reads the `ticket` table by name (sqlalchemy `table()`), as hub.tags may not import hub.tickets.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    String,
    and_,
    cast,
    column,
    func,
    not_,
    or_,
    select,
    table,
    true,
)
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col

from hub.core.models import IN, Account, Fan, Identity, Message
from hub.tags.audience_syntax import And, AudienceSyntaxError, Filter, Node, Not, Or, Tag, parse, tag_names
from hub.tags.models import FanTag
from hub.tags.models import Tag as TagRow

ACTIVE_TICKET_STATUSES = ("open", "assigned", "waiting")  # as hub.tickets.models.ACTIVE
_ticket = table("ticket", column("fan_id"), column("status"))

FanSet = Select[Any] | CompoundSelect


class UnknownTag(AudienceSyntaxError):
    """The expression names a tag that does not exist (or was deleted)."""


@dataclass(frozen=True)
class Context:
    """What a leaf needs besides the expression: tag ids by name, the time zone of dates, and now."""

    tag_ids: dict[str, int]
    zone: ZoneInfo
    now: datetime
    dialect: str


def tag_ids(session: Session) -> dict[str, int]:
    rows = session.exec(select(TagRow.name, TagRow.id).where(col(TagRow.deleted_at).is_(None))).all()
    return {name: tag_id for name, tag_id in rows}


def context(session: Session, zone: str = "Asia/Shanghai", now: datetime | None = None) -> Context:
    bind = session.get_bind()
    return Context(tag_ids(session), ZoneInfo(zone), now or datetime.now(UTC), bind.dialect.name)


def _utc(moment: datetime) -> datetime:
    """Aware UTC: SQLite stores the hub's times as UTC text (the zone is dropped on both sides); PostgreSQL compares
    its `timestamp` columns with a `timestamptz` in the session's zone, which is how the hub's aware times went in."""
    return moment.astimezone(UTC)


def _fans(*where: ColumnElement[bool]) -> Select[Any]:
    """Fans by their own row; a fan merged into another is only a tombstone (hub.conversation.identity)."""
    return select(col(Fan.id).label("fan_id")).where(col(Fan.merged_into_id).is_(None), *where)


def _identities(*where: ColumnElement[bool], accounts: bool = False) -> Select[Any]:
    query = select(col(Identity.fan_id).label("fan_id"))
    if accounts:
        query = query.join(Account, col(Account.id) == Identity.account_id)
    return query.where(*where).distinct()


def _dates(node: Filter, ctx: Context) -> Select[Any]:
    stamp = col(Fan.created_at) if node.field == "first_seen" else col(Fan.last_seen_at)
    age = node.age()
    if age is not None:  # "active<30d": less than 30 days ago, i.e. later than now - 30 days
        edge = _utc(ctx.now - age)
        return _fans({"<": stamp > edge, "<=": stamp >= edge, ">": stamp < edge, ">=": stamp <= edge}[node.op])
    day = node.day()
    assert day is not None  # the parser accepts only dates and ages

    def start(d: date) -> datetime:
        return _utc(datetime.combine(d, time(), ctx.zone))

    first, after = start(day), start(day + timedelta(days=1))
    conditions = {">=": [stamp >= first], ">": [stamp >= after], "<": [stamp < first], "<=": [stamp < after],
                  "=": [stamp >= first, stamp < after]}[node.op]
    return _fans(*conditions)


def _filter(node: Filter, ctx: Context) -> FanSet | Not:
    field, value = node.field, node.value
    if field == "channel":
        return _identities(col(Account.channel) == value.lower(), accounts=True)
    if field == "account":
        return _identities(col(Account.key) == value, accounts=True)
    if field == "subscribed":
        subscribed = _identities(col(Identity.subscribed).is_(True))
        return subscribed if value == "yes" else Not(Filter("subscribed", ":", "yes", node.position))
    if field == "scene":
        return _identities(col(Identity.referral_scene).in_((value, f"qrscene_{value}")))
    if field == "intent":
        return (select(col(Message.fan_id).label("fan_id"))
                .where(Message.direction == IN, Message.meta["intent"].as_string() == value).distinct())
    if field == "ticket":
        if value == "none":
            return Not(Filter("ticket", ":", "any", node.position))
        query = select(_ticket.c.fan_id.label("fan_id"))
        if value == "open":
            query = query.where(_ticket.c.status.in_(ACTIVE_TICKET_STATUSES))
        elif value != "any":
            query = query.where(_ticket.c.status == value)
        return query.distinct()
    return _dates(node, ctx)


def _leaf(node: Tag | Filter, ctx: Context) -> FanSet | Not:
    if isinstance(node, Filter):
        return _filter(node, ctx)
    tag_id = ctx.tag_ids.get(node.name)
    if tag_id is None:
        raise UnknownTag(node.position, "the name of an existing tag (or a filter such as channel:wechat)", node.name)
    return select(col(FanTag.fan_id).label("fan_id")).where(FanTag.tag_id == tag_id, col(FanTag.active) == true())


def _operand(query: FanSet) -> Select[Any]:
    """A set usable after the first place of a SQLite compound: a compound there is wrapped as a sub-query."""
    if isinstance(query, CompoundSelect):
        sub = query.subquery()
        return select(sub.c.fan_id)
    return query


def _compound(keyword: Any, items: list[FanSet], ctx: Context, ordered: bool = False) -> CompoundSelect:
    """items[0] KEYWORD items[1] KEYWORD ... as one compound.

    PostgreSQL takes nested compounds in parentheses (SQLAlchemy writes them). SQLite has no parentheses but groups
    a chain left to right, so a compound in the first place stays as it is (`A UNION B INTERSECT C` is
    (A ∪ B) ∩ C there); elsewhere it becomes a sub-query. For UNION and INTERSECT (not `ordered`) a compound is
    moved to the first place."""
    if ctx.dialect != "sqlite":
        return CompoundSelect(keyword, *items)
    if not ordered:
        items = sorted(items, key=lambda item: not isinstance(item, CompoundSelect))
    first, rest = items[0], [_operand(item) for item in items[1:]]
    built = CompoundSelect(keyword, first, *rest)
    if isinstance(first, CompoundSelect):
        built.selects[0] = first  # no SelectStatementGrouping: SQLite reads the chain left to right
    return built


def universe() -> Select[Any]:
    return _fans()


def _tags_only(node: Node) -> bool:
    if isinstance(node, Tag):
        return True
    if isinstance(node, Not):
        return _tags_only(node.item)
    return isinstance(node, And | Or) and all(_tags_only(item) for item in node.items)


def _holds_without_tags(node: Node) -> bool:
    """Whether a tags-only expression matches a fan who has none of its tags (then it needs every fan)."""
    if isinstance(node, Tag):
        return False
    if isinstance(node, Not):
        return not _holds_without_tags(node.item)
    values = [_holds_without_tags(item) for item in node.items]  # type: ignore[union-attr]
    return all(values) if isinstance(node, And) else any(values)


def _having(node: Node, ctx: Context) -> ColumnElement[bool]:
    if isinstance(node, Tag):
        tag_id = ctx.tag_ids.get(node.name)
        if tag_id is None:
            raise UnknownTag(node.position, "the name of an existing tag (or a filter such as channel:wechat)",
                             node.name)
        return func.bool_or(FanTag.tag_id == tag_id)
    if isinstance(node, Not):
        return not_(_having(node.item, ctx))
    parts = [_having(item, ctx) for item in node.items]  # type: ignore[union-attr]
    return and_(*parts) if isinstance(node, And) else or_(*parts)


def _grouped(node: Node, ctx: Context) -> Select[Any]:
    """PostgreSQL, a tags-only expression: one pass over the tags' active rows grouped by fan, the expression in
    HAVING (PostgreSQL hashes a UNION / EXCEPT of large sets more slowly than it groups one scan)."""
    ids = sorted({ctx.tag_ids[name] for name, _ in tag_names(node) if name in ctx.tag_ids})
    return (select(col(FanTag.fan_id).label("fan_id"))
            .where(col(FanTag.active) == true(), col(FanTag.tag_id).in_(ids))
            .group_by(col(FanTag.fan_id)).having(_having(node, ctx)))


def build(node: Node, ctx: Context) -> FanSet:
    """The SELECT of the fan ids that match `node` (distinct)."""
    if (ctx.dialect == "postgresql" and isinstance(node, And | Or | Not) and _tags_only(node)
            and not _holds_without_tags(node)):
        return _grouped(node, ctx)
    if isinstance(node, Tag | Filter):
        built = _leaf(node, ctx)
        return build(built, ctx) if isinstance(built, Not) else built
    if isinstance(node, Not):
        return _compound(CompoundSelect.EXCEPT, [universe(), build(node.item, ctx)], ctx, ordered=True)
    if isinstance(node, Or):
        return _compound(CompoundSelect.UNION, [build(item, ctx) for item in node.items], ctx)
    assert isinstance(node, And)
    positives = [item for item in node.items if not isinstance(item, Not)]
    negatives = [item.item for item in node.items if isinstance(item, Not)]
    base: FanSet = universe() if not positives else (
        build(positives[0], ctx) if len(positives) == 1 else
        _compound(CompoundSelect.INTERSECT, [build(item, ctx) for item in positives], ctx))
    if not negatives:
        return base
    if ctx.dialect == "sqlite":  # base EXCEPT n1 EXCEPT n2 ..., left to right
        return _compound(CompoundSelect.EXCEPT, [base, *(build(item, ctx) for item in negatives)], ctx, ordered=True)
    removed = build(negatives[0], ctx) if len(negatives) == 1 else build(Or(tuple(negatives)), ctx)
    return _compound(CompoundSelect.EXCEPT, [base, removed], ctx, ordered=True)


def fan_ids(node: Node, ctx: Context) -> Any:
    """The matching ids as a sub-query with one column, `fan_id` (ordered on SQLite: see the module's note)."""
    query = build(node, ctx)
    if isinstance(query, CompoundSelect) and ctx.dialect == "sqlite":
        query = query.order_by(query.selected_columns[0])
    return query.subquery("audience")


def compile_expression(session: Session, expression: str, zone: str = "Asia/Shanghai",
                       now: datetime | None = None) -> Any:
    """The sub-query of matching fan ids for the text; AudienceSyntaxError (or UnknownTag) with the position."""
    return fan_ids(parse(expression), context(session, zone, now))


def count(session: Session, audience: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(audience)) or 0)


def sample(session: Session, audience: Any, limit: int = 20) -> list[Fan]:
    """Up to `limit` matching fans, the newest first (a top-N of ids: no sort of the fans themselves)."""
    ids = list(session.scalars(select(audience.c.fan_id).order_by(audience.c.fan_id.desc()).limit(limit)).all())
    if not ids:
        return []
    return list(session.scalars(select(Fan).where(col(Fan.id).in_(ids)).order_by(col(Fan.id).desc())).all())


def iterate(bind: Engine | Connection, audience: Any, chunk: int = 5000) -> Iterator[list[tuple[Any, ...]]]:
    """The matching fans in id order, `chunk` rows at a time: (id, display_name, created_at, last_seen_at,
    "account:openid ...", "tag|tag|..." of the active tags). Times are UTC text 'YYYY-MM-DD HH:MM:SS'
    (parsing a million datetimes costs seconds); identities and tags come from correlated sub-queries (one index
    lookup per fan, no second round trip)."""
    tag_list = (select(func.aggregate_strings(col(TagRow.name), "|")).select_from(FanTag)
                .join(TagRow, col(TagRow.id) == FanTag.tag_id)
                .where(FanTag.fan_id == Fan.id, col(FanTag.active) == true()).scalar_subquery())
    openids = (select(func.aggregate_strings(col(Account.key) + ":" + col(Identity.external_id), " "))
               .select_from(Identity).join(Account, col(Account.id) == Identity.account_id)
               .where(Identity.fan_id == Fan.id)
               .scalar_subquery())
    dialect = bind.dialect.name
    query = (select(Fan.id, Fan.display_name, _text_time(col(Fan.created_at), dialect),
                    _text_time(col(Fan.last_seen_at), dialect), openids, tag_list)
             .join(audience, audience.c.fan_id == Fan.id).order_by(col(Fan.id)))
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            yield from _stream(conn, query, chunk)
    else:
        yield from _stream(bind, query, chunk)


def _text_time(column_: Any, dialect: str) -> Any:
    """A stored time as UTC text: PostgreSQL keeps timestamptz (shown in the session's zone unless converted);
    SQLite keeps the UTC text already."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column_), "YYYY-MM-DD HH24:MI:SS")
    return func.substr(cast(column_, String), 1, 19)


def _stream(conn: Connection, query: Select[Any], chunk: int) -> Iterator[list[tuple[Any, ...]]]:
    result = conn.execution_options(stream_results=True, yield_per=chunk).execute(query)
    for part in result.partitions(chunk):
        yield [tuple(row) for row in part]
