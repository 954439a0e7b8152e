"""Canned replies: prepared answers an agent picks by shortcut, with placeholders filled for the ticket at hand
({fan_name}, {ticket_id}, {agent_name}; a literal brace is written {{ or }}). The agent sends the rendered text
as an ordinary reply (hub.tickets.work.reply)."""

from __future__ import annotations

import re
from string import Formatter
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from hub.core.models import Fan, User, as_utc
from hub.tickets.errors import Conflict, NotFound, TicketError
from hub.tickets.models import CannedReply, Ticket
from hub.tickets.work import REPLY_CHARS

PLACEHOLDERS = ("fan_name", "ticket_id", "agent_name")
_SHORTCUT = re.compile(r"^[\w.\-]{1,64}$")


def render(text: str, *, fan_name: str, ticket_id: int, agent_name: str) -> str:
    """The text with its placeholders filled. TicketError naming an unknown placeholder or a stray brace."""
    values = {"fan_name": fan_name, "ticket_id": str(ticket_id), "agent_name": agent_name}
    out: list[str] = []
    try:
        parts = list(Formatter().parse(text))
    except ValueError:
        raise TicketError("a single { or } in a canned reply: write {{ or }} for a literal brace") from None
    for literal, name, spec, conversion in parts:
        out.append(literal)
        if name is None:
            continue
        if name not in values or spec or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise TicketError(f"unknown placeholder {shown}: use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
                              " (write {{ or }} for a literal brace)")
        out.append(values[name])
    return "".join(out)


def render_for(session: Session, text: str, ticket: Ticket, agent_id: int) -> str:
    """`render` with the names of the ticket's fan and of the agent."""
    fan = session.get(Fan, ticket.fan_id)
    agent = session.get(User, agent_id)
    assert ticket.id is not None
    return render(text, fan_name=(fan.display_name if fan else "") or "", ticket_id=ticket.id,
                  agent_name=(agent.display_name or agent.email) if agent else "")


def create_canned(session: Session, shortcut: str, text: str) -> CannedReply:
    shortcut, text = _checked(shortcut, text)
    _unique(session, shortcut, None)
    canned = CannedReply(shortcut=shortcut, text=text)
    _save(session, canned)
    return canned


def update_canned(session: Session, canned_id: int, *, shortcut: str | None = None,
                  text: str | None = None) -> CannedReply:
    canned = get_canned(session, canned_id)
    new_shortcut, new_text = _checked(canned.shortcut if shortcut is None else shortcut,
                                      canned.text if text is None else text)
    _unique(session, new_shortcut, canned.id)
    canned.shortcut, canned.text = new_shortcut, new_text
    _save(session, canned)
    return canned


def delete_canned(session: Session, canned_id: int) -> None:
    session.delete(get_canned(session, canned_id))
    session.flush()


def get_canned(session: Session, canned_id: int) -> CannedReply:
    canned = session.get(CannedReply, canned_id)
    if canned is None:
        raise NotFound(f"no canned reply {canned_id}")
    return canned


def canned_by_shortcut(session: Session, shortcut: str) -> CannedReply:
    canned = session.exec(select(CannedReply).where(CannedReply.shortcut == shortcut.strip())).first()
    if canned is None:
        raise NotFound(f"no canned reply with the shortcut {shortcut!r}")
    return canned


def list_canned(session: Session, q: str | None = None) -> list[dict[str, Any]]:
    """Every canned reply (shortcut order); `q` keeps those whose shortcut or text contains it."""
    query = select(CannedReply)
    if q and q.strip():
        like = "%" + q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(col(CannedReply.shortcut).ilike(like, escape="\\") |
                            col(CannedReply.text).ilike(like, escape="\\"))
    return [canned_dict(c) for c in session.exec(query.order_by(col(CannedReply.shortcut))).all()]


def canned_dict(canned: CannedReply) -> dict[str, Any]:
    return {"id": canned.id, "shortcut": canned.shortcut, "text": canned.text,
            "created_at": as_utc(canned.created_at).isoformat()}


def _checked(shortcut: str, text: str) -> tuple[str, str]:
    shortcut, text = (shortcut or "").strip(), (text or "").strip()
    if not _SHORTCUT.match(shortcut):
        raise TicketError("a shortcut has 1–64 letters, digits, '_', '-' or '.', without spaces")
    if not text or len(text) > REPLY_CHARS:
        raise TicketError(f"a canned reply has 1–{REPLY_CHARS} characters")
    render(text, fan_name="", ticket_id=0, agent_name="")  # unknown placeholders are refused now, not when used
    return shortcut, text


def _save(session: Session, canned: CannedReply) -> None:
    nested = session.begin_nested()
    try:
        session.add(canned)
        session.flush()
        nested.commit()
    except IntegrityError:  # the same shortcut saved a moment ago by someone else
        nested.rollback()
        raise Conflict(f"a canned reply with the shortcut {canned.shortcut!r} exists already") from None


def _unique(session: Session, shortcut: str, own_id: int | None) -> None:
    other = session.exec(select(CannedReply.id).where(CannedReply.shortcut == shortcut)).first()
    if other is not None and other != own_id:
        raise Conflict(f"a canned reply with the shortcut {shortcut!r} exists already")
