"""Where the dashboards' facts live, as SQL over the raw tables (SQLite and PostgreSQL): the aggregate queries the
rollups are built from, and the day boundaries they use.

Messages: what a bot did with a fan's message is read from the bot's automatic reply (an outbound message whose
`source` names the bot): the FAQ bot's suggestion list carries `meta.suggestions`, a hand-off notice carries
`meta.ticket_id`, anything else from the keyword or FAQ bot is an answer. Welcome and menu replies answer events,
and the default reply is a fallback, so neither counts as an answer. The strongest interest of a fan's message is
the first of `meta.interests` (hub.tags.tagging). Subscribes count by the scene of the QR code scanned (the event's
`meta.scene`), unsubscribes by the fan's first referral scene (Identity.referral_scene).

Days are calendar days at a fixed offset from UTC (the hub's timezone's current offset, see `utc_offset_minutes`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bots.faq import SOURCE as FAQ
from bots.intent_handoff import SOURCE as INTENT
from bots.keywords import SOURCE as KEYWORD

ANSWERING = (KEYWORD, FAQ)
HANDING_OFF = (FAQ, INTENT)


def utc_offset_minutes(timezone: str, at: datetime | None = None) -> int:
    offset = (at or datetime.now(UTC)).astimezone(ZoneInfo(timezone)).utcoffset() or timedelta()
    return int(offset.total_seconds() // 60)


def day_start_utc(day: date, offset_minutes: int) -> datetime:
    """The UTC moment at which `day` begins at that offset."""
    return datetime.combine(day, time(), tzinfo=UTC) - timedelta(minutes=offset_minutes)


def local_day(moment: datetime, offset_minutes: int) -> date:
    moment = moment.replace(tzinfo=None) if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)
    return (moment + timedelta(minutes=offset_minutes)).date()


class Dialect:
    """The few expressions that differ between SQLite and PostgreSQL."""

    def __init__(self, name: str, offset_minutes: int) -> None:
        self.pg = name == "postgresql"
        self.offset = int(offset_minutes)

    def day(self, column: str) -> str:
        if self.pg:  # timestamptz columns: as UTC first, whatever the session's time zone
            return f"CAST(({column} AT TIME ZONE 'UTC') + INTERVAL '{self.offset} minutes' AS DATE)"
        return f"date({column}, '{self.offset:+d} minutes')"

    def moment(self, value: datetime) -> Any:
        """A time as a bound parameter compares with the stored times: aware for PostgreSQL (timestamptz), for
        SQLite the text SQLAlchemy stores (naive UTC with microseconds)."""
        utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return utc if self.pg else utc.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")

    def seconds(self, start: str, end: str) -> str:
        if self.pg:
            return f"EXTRACT(EPOCH FROM ({end} - {start}))"
        return f"((julianday({end}) - julianday({start})) * 86400.0)"

    def json_text(self, column: str, *path: str | int) -> str:
        if self.pg:
            steps = "".join(f" -> {p}" if isinstance(p, int) else f" -> '{p}'" for p in path[:-1])
            last = path[-1]
            return f"({column}{steps} ->> {last if isinstance(last, int) else repr(last)})"
        dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        return f"json_extract({column}, '${dotted}')"


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def message_day_sql(d: Dialect) -> str:
    suggestions, ticket = d.json_text("meta", "suggestions"), d.json_text("meta", "ticket_id")
    if d.pg:  # a JSON array's text is never NULL, unlike json_extract's answer for a missing key in SQLite
        suggestions = "(meta -> 'suggestions')"
    return f"""
SELECT {d.day('received_at')} AS day, account_id,
  SUM(CASE WHEN direction = 'in' THEN 1 ELSE 0 END),
  SUM(CASE WHEN direction = 'out' THEN 1 ELSE 0 END),
  SUM(CASE WHEN direction = 'in' AND kind <> 'event' THEN 1 ELSE 0 END),
  SUM(CASE WHEN direction = 'out' AND source IN ({_quoted(ANSWERING)})
           AND {suggestions} IS NULL AND {ticket} IS NULL THEN 1 ELSE 0 END),
  SUM(CASE WHEN direction = 'out' AND source = '{FAQ}' AND {suggestions} IS NOT NULL THEN 1 ELSE 0 END),
  SUM(CASE WHEN direction = 'out' AND source IN ({_quoted(HANDING_OFF)}) AND {ticket} IS NOT NULL
           THEN 1 ELSE 0 END),
  SUM(CASE WHEN direction = 'out' AND source LIKE 'agent:%' THEN 1 ELSE 0 END)
FROM message WHERE id > :lo AND id <= :hi
GROUP BY 1, 2"""  # noqa: S608


MESSAGE_DAY_COLUMNS = ("messages_in", "messages_out", "fan_messages", "answered", "suggested", "handed_off",
                       "agent_replies")


def subscribe_day_sql(d: Dialect) -> str:
    scene = d.json_text("m.meta", "scene")
    return f"""
SELECT {d.day('m.received_at')} AS day, m.account_id,
  COALESCE(CASE WHEN m.event = 'subscribe' THEN {scene} ELSE i.referral_scene END, '') AS scene,
  SUM(CASE WHEN m.event = 'subscribe' THEN 1 ELSE 0 END),
  SUM(CASE WHEN m.event = 'unsubscribe' THEN 1 ELSE 0 END)
FROM message m JOIN identity i ON i.id = m.identity_id
WHERE m.id > :lo AND m.id <= :hi AND m.direction = 'in' AND m.kind = 'event'
  AND m.event IN ('subscribe', 'unsubscribe')
GROUP BY 1, 2, 3"""  # noqa: S608


def interest_day_sql(d: Dialect) -> str:
    tag = d.json_text("meta", "interests", 0, "tag")
    return f"""
SELECT {d.day('received_at')} AS day, account_id, {tag} AS tag, COUNT(*)
FROM message WHERE id > :lo AND id <= :hi AND direction = 'in' AND kind <> 'event' AND {tag} IS NOT NULL
GROUP BY 1, 2, 3"""  # noqa: S608


TICKET_TIMES = ("created_at", "first_response_at", "resolved_at", "first_response_breached_at",
                "resolution_breached_at")
# Every ticket with an event at or after :since, in one scan of the table (it has no index on these times); the
# figures per day are summed from these rows (hub.reports.rollups).
_ANY_EVENT_SINCE = " OR ".join(f"{column} >= :since" for column in TICKET_TIMES)
TICKET_EVENTS_SQL = f"SELECT account_id, csat_score, {', '.join(TICKET_TIMES)} FROM ticket WHERE {_ANY_EVENT_SINCE}"  # noqa: S608


SNAPSHOT_SQL = """
SELECT i.account_id, ft.tag_id, COUNT(DISTINCT ft.fan_id)
FROM fantag ft JOIN identity i ON i.fan_id = ft.fan_id
WHERE ft.active = :active
GROUP BY 1, 2"""
