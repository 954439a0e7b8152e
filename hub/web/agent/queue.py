"""The queue's data: the tabs (my tickets, my team's, unassigned, all) with their counts, the filters and search
of the URL, and one page of tickets with what a row shows (last message, SLA timers, the assignee's name).

Every query is served by an index of the ticket table: the page comes from hub.tickets.list_tickets, each tab's
count is one COUNT on status/assignee/team, and the rows' extras are one query each for the whole page (never
one per row)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from hub.core.models import Account, Message, User
from hub.tickets import TicketError, list_tickets
from hub.tickets.models import ACTIVE, PRIORITY_BY_NAME, STATUSES, Team, TeamMember, Ticket
from hub.web.agent.present import first_response_timer, window_timer

TABS = ("mine", "team", "unassigned", "all")
STATUS_CHOICES = ("active", *STATUSES, "any")  # active: open, assigned or waiting on the fan
SORTS = ("priority", "newest", "oldest")
PER_PAGE = 50
NARROW_PER_PAGE = 30  # the list beside a conversation
PREVIEW_CHARS = 80


@dataclass(frozen=True)
class QueueFilters:
    """What the URL asks the queue for. Unknown values fall back to the defaults instead of failing."""

    tab: str = "mine"
    status: str = "active"
    priority: str = ""
    team: int | None = None
    q: str = ""
    sort: str = ""
    page: int = 1

    @classmethod
    def from_args(cls, args: Mapping[str, str], default_tab: str) -> QueueFilters:
        tab = args.get("tab", default_tab)
        team = args.get("team", "")
        try:
            page = max(1, min(10_000, int(args.get("page", "1"))))
        except ValueError:
            page = 1
        return cls(
            tab=tab if tab in TABS else default_tab,
            status=args.get("status", "active") if args.get("status", "active") in STATUS_CHOICES else "active",
            priority=args.get("priority", "") if args.get("priority", "") in PRIORITY_BY_NAME else "",
            team=int(team) if team.isdigit() else None,
            q=args.get("q", "").strip()[:100],
            sort=args.get("sort", "") if args.get("sort", "") in SORTS else "",
            page=page,
        )

    def args(self, **changes: Any) -> dict[str, Any]:
        """The query-string arguments of these filters (with changes), defaults left out: for url_for."""
        merged = replace(self, **changes)
        defaults = QueueFilters()
        return {k: v for k, v in asdict(merged).items() if v != getattr(defaults, k) and v not in ("", None)} | (
            {"tab": merged.tab})

    @property
    def statuses(self) -> tuple[str, ...]:
        if self.status == "active":
            return ACTIVE
        return () if self.status == "any" else (self.status,)

    @property
    def order(self) -> str:
        return self.sort or ("priority" if self.status in ("active", "open", "assigned", "waiting") else "newest")


def default_tab(role: str, is_agent: bool) -> str:
    return "mine" if is_agent or role == "agent" else "all"


def my_teams(session: Session, user_id: int) -> list[tuple[int, str]]:
    return [(t.id, t.name) for t in session.exec(select(Team).join(TeamMember, col(TeamMember.team_id) == Team.id)
                                                  .where(TeamMember.user_id == user_id)
                                                  .order_by(col(Team.name))).all()]


def all_teams(session: Session) -> list[tuple[int, str]]:
    return [(t.id, t.name) for t in session.exec(select(Team).order_by(col(Team.name))).all()]


def _tab_scope(tab: str, me: int, team: int | None) -> dict[str, Any] | None:
    """list_tickets' arguments for a tab (None: the tab is empty, e.g. my team's when I am in none)."""
    if tab == "mine":
        return {"assignee_id": me, "team_id": team}
    if tab == "team":
        return {"team_id": team} if team is not None else None
    if tab == "unassigned":
        return {"unassigned": True, "team_id": team}
    return {"team_id": team}


def _count(session: Session, statuses: tuple[str, ...], priority: str, scope: dict[str, Any] | None) -> int:
    if scope is None:
        return 0
    conditions = []
    if statuses:
        conditions.append(col(Ticket.status).in_(statuses) if len(statuses) > 1 else col(Ticket.status) == statuses[0])
    if priority:
        conditions.append(col(Ticket.priority) == PRIORITY_BY_NAME[priority])
    if scope.get("assignee_id") is not None:
        conditions.append(col(Ticket.assignee_id) == scope["assignee_id"])
    if scope.get("unassigned"):
        conditions.append(col(Ticket.assignee_id).is_(None))
    if scope.get("team_id") is not None:
        conditions.append(col(Ticket.team_id) == scope["team_id"])
    return int(session.exec(select(func.count()).select_from(Ticket).where(*conditions)).one())


def load_queue(session: Session, me: int, filters: QueueFilters, *, per_page: int = PER_PAGE) -> dict[str, Any]:
    """The tabs with counts, the page of rows, the totals and the choices of the filters."""
    mine = my_teams(session, me)
    team_of_tab = filters.team if filters.team is not None else (mine[0][0] if mine else None)
    scopes = {tab: _tab_scope(tab, me, team_of_tab if tab == "team" else filters.team) for tab in TABS}
    counts = {tab: _count(session, filters.statuses, filters.priority, scope) for tab, scope in scopes.items()}
    scope = scopes[filters.tab]
    error = None
    rows: list[dict[str, Any]] = []
    total = 0
    if scope is not None:
        try:
            rows, total = list_tickets(session, status=list(filters.statuses) or None,
                                       priority=filters.priority or None, q=filters.q or None, sort=filters.order,
                                       limit=per_page, offset=(filters.page - 1) * per_page, **scope)
        except TicketError as exc:  # a filter the listing refuses: say so, show nothing
            error = exc.message
    decorate(session, rows)
    return {"tabs": [(tab, counts[tab]) for tab in TABS], "rows": rows, "total": total, "error": error,
            "pages": max(1, -(-total // per_page)), "my_teams": mine, "teams": all_teams(session),
            "team_of_tab": team_of_tab}


def decorate(session: Session, rows: list[dict[str, Any]]) -> None:
    """Add what a row shows besides the listing's fields: the last message's preview, the assignee's name, the
    account's time zone and the timers. One query per kind for the whole page."""
    if not rows:
        return
    ids = [row["id"] for row in rows]
    last = {tid: (kind, text, meta) for tid, kind, text, meta in session.exec(
        select(Ticket.id, Message.kind, Message.text, Message.meta)
        .join(Message, col(Message.id) == Ticket.last_message_id).where(col(Ticket.id).in_(ids))).all()}
    assignees = {row["assignee_id"] for row in rows if row["assignee_id"]}
    names = user_names(session, assignees)
    zones = account_zones(session)
    for row in rows:
        kind, text, meta = last.get(row["id"], ("text", "", {}))
        row["preview"] = preview(kind, text, meta or {})
        if kind == "text" and row["preview"]["text"].startswith(row["subject"].rstrip("…")):
            row["preview"]["text"] = ""  # the subject says it already
        row["assignee_name"] = names.get(row["assignee_id"], row["assignee"] or "")
        row["tz"] = zones.get(row["account_id"])
        row["first_response_timer"] = first_response_timer(row)
        row["window_timer"] = window_timer(row)


def preview(kind: str, text: str, meta: dict[str, Any]) -> dict[str, str]:
    """What a list shows of a message: its text (cut), or what kind of message it was."""
    text = " ".join((text or meta.get("recognition") or "").split())
    if len(text) > PREVIEW_CHARS:
        text = text[: PREVIEW_CHARS - 1] + "…"
    return {"kind": kind, "text": text}


def user_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {uid: name or email for uid, name, email in session.exec(
        select(User.id, User.display_name, User.email).where(col(User.id).in_(ids))).all()}


def account_zones(session: Session) -> dict[int, str | None]:
    """Each account's time zone (settings.timezone; None: the hub's). The account table is small."""
    return {aid: (settings or {}).get("timezone") for aid, settings in session.exec(
        select(Account.id, Account.settings)).all()}
