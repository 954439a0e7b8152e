"""How the agent's pages name things and count time: translated labels for statuses, priorities, intents,
channels and the reasons the hub records, the SLA and 48-hour-window timers, and what a failed delivery means.

Labels are looked up at request time (`gettext`), so each reader sees their own language; a value the hub does
not know (a new intent, a reason written elsewhere) is shown as it is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from babel.dates import format_timedelta
from flask_babel import get_locale, gettext

from hub.core.models import as_utc, utcnow
from hub.tickets.models import PRIORITIES


def status_label(status: str) -> str:
    return {
        "open": gettext("Waiting for an agent"), "assigned": gettext("Assigned"),
        "waiting": gettext("Waiting on the fan"),
        "resolved": gettext("Resolved"), "closed": gettext("Closed"),
    }.get(status, status)


def priority_label(priority: str) -> str:
    return {"low": gettext("Low"), "normal": gettext("Normal"), "high": gettext("High"),
            "urgent": gettext("Urgent")}.get(priority, priority)


def bot_label(source: str) -> str:
    """Which automatic answer this was, as the reader's language names it."""
    return {"faq": gettext("Knowledge base"), "intent": gettext("Hand-off"), "keyword": gettext("Keyword rule"),
            "welcome": gettext("Welcome message"), "menu": gettext("Menu reply"),
            "default": gettext("Default reply")}.get(source, source)


def intent_label(intent: str | None) -> str:
    if not intent:
        return ""
    return {"question": gettext("Question"), "complaint": gettext("Complaint"), "human": gettext("Asks for a human"),
            "purchase": gettext("Purchase"), "chitchat": gettext("Chit-chat")}.get(intent, intent)


def channel_label(channel: str) -> str:
    return {"wechat": gettext("WeChat Official Account"), "wecom": gettext("WeCom"),
            "community": gettext("Community")}.get(channel, channel)


def presence_label(status: str) -> str:
    return {"online": gettext("Online"), "away": gettext("Away"), "offline": gettext("Offline")}.get(status, status)


def phrase(text: str | None) -> str:
    """A reason or explanation the tickets domain wrote in English, in the reader's language when known."""
    if not text:
        return ""
    return {
        "the fan complained": gettext("the fan complained"),
        "the fan asked for a person": gettext("the fan asked for a person"),
        "the fan said the answer did not help": gettext("the fan said the answer did not help"),
        "the knowledge base has no confident answer": gettext("the knowledge base has no confident answer"),
        "the fan wrote again": gettext("the fan wrote again"),
        "the fan replied": gettext("the fan replied"),
        "reopened by an agent": gettext("reopened by an agent"),
        "the agent went offline": gettext("the agent went offline"),
        "the agent's console went silent": gettext("the agent's console went silent"),
        "nobody took the ticket within its first-response target":
            gettext("nobody took the ticket within its first-response target"),
        "auto-closed": gettext("auto-closed"),
        "opened by hand": gettext("opened by hand"),
        "the fan's 48-hour window has closed": gettext("the fan's 48-hour window has closed"),
        "the fan has not written: there is no conversation to send a survey to":
            gettext("the fan has not written: there is no conversation to send a survey to"),
        "the 5 customer-service messages WeChat allows since the fan's last message are used up":
            gettext("the 5 customer-service messages WeChat allows since the fan's last message are used up"),
    }.get(text, text)


def wechat_event(event: str | None) -> str:
    return {"subscribe": gettext("followed the account"), "unsubscribe": gettext("unfollowed the account"),
            "scan": gettext("scanned a QR code"), "click": gettext("clicked a menu"),
            "view": gettext("opened a menu link"), "location": gettext("reported a location"),
            }.get(event or "", event or "")


def _priority_name(value: object) -> str:
    return priority_label(PRIORITIES.get(int(value), str(value))) if str(value).isdigit() else str(value)


def _target(value: object) -> str:
    return {"first_response": gettext("First response"), "resolution": gettext("Resolution")}.get(str(value),
                                                                                                   str(value))


def event_line(e: dict[str, Any]) -> str:
    """One line for a ticket event (not a note) in the conversation: who did what."""
    kind, data = e["kind"], e["data"]
    actor = e["actor"] or gettext("the hub")
    why = phrase(data.get("why"))
    if kind == "opened":
        reason = phrase(data.get("reason"))
        return gettext("Ticket opened: %(reason)s", reason=reason) if reason else gettext("Ticket opened")
    if kind == "assigned":
        if not e["actor"]:
            return gettext("Routed to %(agent)s", agent=e["agent"])
        if e["actor"] == e["agent"]:
            return gettext("%(agent)s took the ticket", agent=e["agent"])
        return gettext("%(actor)s assigned the ticket to %(agent)s", actor=actor, agent=e["agent"])
    if kind == "transferred":
        if e["agent"]:
            return gettext("%(actor)s transferred the ticket to %(agent)s", actor=actor, agent=e["agent"])
        return gettext("%(actor)s transferred the ticket to the team %(team)s", actor=actor, team=e["to_team"])
    if kind == "unassigned":
        return gettext("Back to the queue: %(why)s", why=why) if why else gettext("Back to the queue")
    if kind == "status":
        line = gettext("%(actor)s: %(old)s → %(new)s", actor=actor, old=status_label(str(data.get("old"))),
                       new=status_label(str(data.get("new"))))
        return f"{line} ({why})" if why else line
    if kind == "reopened":
        return gettext("Reopened: %(why)s", why=why) if why else gettext("Reopened")
    if kind == "merged":
        source, into = "#" + str(data.get("source_id")), "#" + str(data.get("into"))
        if data.get("source_id"):
            return gettext("%(actor)s merged ticket %(number)s into this one", actor=actor, number=source)
        return gettext("%(actor)s merged this ticket into %(number)s", actor=actor, number=into)
    if kind in ("priority", "escalated"):
        line = gettext("Priority %(old)s → %(new)s", old=_priority_name(data.get("old")),
                       new=_priority_name(data.get("new")))
        return gettext("Escalated: %(line)s", line=line) if kind == "escalated" else line
    if kind == "sla_warning":
        return gettext("%(target)s due soon", target=_target(data.get("target")))
    if kind == "sla_breach":
        return gettext("%(target)s target missed", target=_target(data.get("target")))
    if kind == "window_warning":
        return gettext("The fan's 48-hour window closes soon")
    if kind == "csat_requested":
        return gettext("Satisfaction survey sent")
    if kind == "csat_skipped":
        return gettext("No satisfaction survey: %(why)s", why=why)
    if kind == "csat":
        line = gettext("The fan rated the service %(score)s/5", score=data.get("score"))
        return f"{line}: {data['comment']}" if data.get("comment") else line
    return kind


def span(delta: timedelta, compact: bool = False) -> str:
    """A duration as '3 hr 5 min' / '3小时5分钟' (days past 48 hours; `compact`: no minutes past an hour), in the
    reader's locale."""
    locale = str(get_locale() or "zh")
    minutes = max(0, int(delta.total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    if hours >= 48:
        return format_timedelta(timedelta(days=hours // 24), granularity="day", format="short", threshold=1000,
                                locale=locale)
    parts = []
    if hours:
        parts.append(format_timedelta(timedelta(hours=hours), granularity="hour", format="short", threshold=1000,
                                      locale=locale))
    if (minutes and not (compact and hours)) or not hours:
        parts.append(format_timedelta(timedelta(minutes=minutes), granularity="minute", format="short",
                                      threshold=1000, locale=locale))
    return ("" if locale.startswith("zh") else " ").join(parts)


@dataclass(frozen=True)
class Timer:
    """One clock on a ticket: its text and how worried to be (ok, warn, bad, done, paused)."""

    text: str
    level: str
    at: str | None = None  # the due time (ISO), for a title


WARN_BEFORE = timedelta(minutes=15)  # a first response due this soon shows as a warning
WINDOW_WARN_BEFORE = timedelta(hours=4)  # a 48-hour window closing this soon shows as a warning
ACTIVE = ("open", "assigned", "waiting")


def _moment(value: str | datetime | None) -> datetime | None:
    if value is None or value == "":
        return None
    return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


def first_response_timer(ticket: dict[str, Any], now: datetime | None = None) -> Timer | None:
    """The first-response target of a ticket as the queue shows it (None once answered or closed)."""
    now = now or utcnow()
    if ticket["status"] not in ACTIVE or ticket.get("first_response_at"):
        return None
    due = _moment(ticket.get("first_response_due"))
    if due is None:
        return None
    if ticket.get("first_response_breached_at") or due <= now:
        return Timer(gettext("Response overdue by %(span)s", span=span(now - due, True)), "bad", due.isoformat())
    if ticket["status"] == "waiting":
        return Timer(gettext("Response clock paused"), "paused", due.isoformat())
    level = "warn" if due - now <= WARN_BEFORE else "ok"
    return Timer(gettext("Respond within %(span)s", span=span(due - now, True)), level, due.isoformat())


def window_timer(ticket: dict[str, Any], now: datetime | None = None) -> Timer | None:
    """WeChat's 48-hour customer-service window of an active ticket (None without one)."""
    now = now or utcnow()
    closes = _moment(ticket.get("window_closes_at"))
    if closes is None or ticket["status"] not in ACTIVE:
        return None
    if closes <= now:
        return Timer(gettext("48 h window closed"), "bad", closes.isoformat())
    level = "warn" if closes - now <= WINDOW_WARN_BEFORE else "ok"
    return Timer(gettext("Window: %(span)s left", span=span(closes - now, True)), level, closes.isoformat())


TOKEN_CODES = ("40001", "40014", "42001")
NETWORK_CODES = ("timeout", "network", "http", "-1", "45011")


def delivery_problem(code: str | None, message: str | None) -> str:
    """Why WeChat did not take a reply, in the agent's words; the code decides, the hub's text follows."""
    if not code:
        return message or ""
    if code == "45015":
        return gettext("WeChat refused it: the fan's 48-hour window had closed (45015)")
    if code == "45047":
        return gettext("WeChat refused it: the quota of 5 messages since the fan last wrote was used (45047)")
    if code in TOKEN_CODES:
        return gettext("WeChat refused the access token (%(code)s): check the account's AppSecret", code=code)
    if code in NETWORK_CODES or (len(code) == 3 and code.startswith("5")):  # or an HTTP 5xx
        return gettext("WeChat could not be reached (%(code)s); the hub retries", code=code)
    if code == "unconfirmed":
        return gettext("Unknown whether WeChat received it (the sender stopped while calling WeChat)")
    return gettext("WeChat refused it (%(code)s): %(message)s", code=code, message=message or "")
