"""An agent's work on a ticket: replies that reach the fan through the channel, and internal notes.

A reply is stored exactly once: its dedupe key is the ticket and the caller's idempotency key, checked after the
ticket's row is locked, so the same request sent twice (a retry, a double click) stores one message while two
different replies sent at the same moment are both stored. WeChat takes customer-service messages only within
48 hours of the fan's last message and at most 5 of them since then: a reply it would refuse is refused here,
with the reason, instead of being queued and lost.
"""

from __future__ import annotations

import uuid

from sqlalchemy import or_
from sqlmodel import Session, col, select

from hub.core.config import Config
from hub.core.models import IN, Account, Message, as_utc, utcnow
from hub.outbound import record_outbound
from hub.tickets.csat import QUOTA, quota_used
from hub.tickets.effects import Effects
from hub.tickets.errors import Conflict, TicketError
from hub.tickets.lifecycle import link_message, lock_ticket, log_event, set_status
from hub.tickets.models import ACTIVE, OPEN, RESOLVED, WAITING, Agent, Ticket
from hub.tickets.routing import assign_to
from hub.tickets.sla import WINDOW

REPLY_CHARS = 2000
NOTE_CHARS = 5000
CLIENT_KEY_CHARS = 150
WINDOW_CHANNELS = ("wechat",)
WINDOW_EVENTS = ("subscribe", "scan", "click", "scancode_push", "scancode_waitmsg")  # open the window as messages do
AFTER_REPLY = (WAITING, RESOLVED)


def reply_key(ticket_id: int, client_key: str | None) -> str:
    """The message's dedupe key: the caller's idempotency key for this ticket, or a fresh one."""
    if client_key is None:
        return f"agent-reply:{ticket_id}:{uuid.uuid4().hex}"
    client_key = client_key.strip()
    if not client_key or len(client_key) > CLIENT_KEY_CHARS:
        raise TicketError(f"an idempotency key has 1–{CLIENT_KEY_CHARS} characters")
    return f"agent-reply:{ticket_id}:{client_key}"


def reply(session: Session, config: Config, ticket: Ticket, actor_id: int, text: str, *,
          client_key: str | None = None, status: str | None = None, fx: Effects) -> int:
    """Store an agent's reply on the ticket and ask for its delivery (fx.send); the outbound message's id.

    The same `client_key` again returns the message stored the first time (nothing else happens). An open
    ticket is first assigned to the agent who answers it. `status` ("waiting" or "resolved") is set after the
    reply. Conflict when the ticket is not active, or WeChat's window is closed or its quota used."""
    text = _checked_text(text, REPLY_CHARS, "a reply")
    if status is not None and status not in AFTER_REPLY:
        raise TicketError(f"after a reply the ticket can be set to {' or '.join(AFTER_REPLY)}, not {status!r}")
    key = reply_key(ticket.id, client_key)
    if (done := _stored(session, key)) is not None:
        return done
    ticket = lock_ticket(session, ticket.id)
    if (done := _stored(session, key)) is not None:  # the same request, committed while we waited for the lock
        return done
    if ticket.status not in ACTIVE:
        raise Conflict(f"ticket {ticket.id} is {ticket.status}: reopen it before replying")
    last_in = _last_inbound(session, ticket)
    if last_in is None:
        raise Conflict(f"the fan of ticket {ticket.id} has never written to this account, so the hub cannot reach"
                       " them; wait for the fan to write")
    channel = _channel(session, last_in.account_id)  # the reply goes where the fan wrote last
    if channel in WINDOW_CHANNELS:
        _check_window(session, ticket, last_in)
    if ticket.status == OPEN and ticket.assignee_id is None and session.get(Agent, actor_id) is not None:
        try:
            assign_to(session, ticket, actor_id, actor_id, fx)
        except Conflict as exc:
            raise Conflict(f"{exc.message}: replying would take ticket {ticket.id}; resolve one of yours or raise"
                           " your capacity first") from None
    out_id = record_outbound(session, last_in, last_in.id, text, source=f"agent:{actor_id}", via="api",
                             meta={"ticket_id": ticket.id}, dedupe_key=key)
    link_message(session, ticket.id, out_id)
    now = utcnow()
    first = ticket.first_response_at is None
    if first:
        ticket.first_response_at = now
    ticket.updated_at = now
    session.add(ticket)
    log_event(session, ticket, "replied", actor_id, message_id=out_id, first=first)
    fx.send.append(out_id)
    fx.changed(ticket.id, "ticket.reply", message_id=out_id, assignee_id=ticket.assignee_id, fan_id=ticket.fan_id)
    if status is not None:
        set_status(session, config, ticket, status, actor_id, fx)
    return out_id


def add_note(session: Session, ticket: Ticket, actor_id: int, text: str, fx: Effects) -> int:
    """An internal note on the ticket (an event "noted"; never sent to the fan); the event's id."""
    text = _checked_text(text, NOTE_CHARS, "a note")
    ticket = lock_ticket(session, ticket.id)  # a merge moving this ticket's events waits, or is waited for
    event = log_event(session, ticket, "noted", actor_id, text)
    ticket.updated_at = utcnow()
    session.add(ticket)
    session.flush()
    fx.changed(ticket.id, "ticket.note", event_id=event.id)
    assert event.id is not None
    return event.id


def _checked_text(text: str, limit: int, what: str) -> str:
    text = (text or "").strip()
    if not text or len(text) > limit:
        raise TicketError(f"{what} has 1–{limit} characters (this one has {len(text)})")
    return text


def _stored(session: Session, key: str) -> int | None:
    return session.exec(select(Message.id).where(Message.dedupe_key == key)).first()


def _last_inbound(session: Session, ticket: Ticket) -> Message | None:
    """The fan's last message or event that opens WeChat's window (not an unsubscribe, a link view...), on any of
    their accounts: a reply goes back where the fan wrote last."""
    opens = or_(Message.kind != "event", col(Message.event).in_(WINDOW_EVENTS))
    return session.exec(select(Message).where(Message.fan_id == ticket.fan_id, Message.direction == IN, opens)
                        .order_by(col(Message.id).desc()).limit(1)).first()


def _channel(session: Session, account_id: int) -> str:
    account = session.get(Account, account_id)
    return account.channel if account else ""


def _check_window(session: Session, ticket: Ticket, last_in: Message) -> None:
    # The ticket's own time counts only for its account (the window is per Official Account and fan).
    own = ticket.last_fan_message_at if last_in.account_id == ticket.account_id else None
    last = max(filter(None, (own and as_utc(own), as_utc(last_in.sent_at))))
    closes = last + WINDOW
    if utcnow() >= closes:
        raise Conflict(f"WeChat's 48-hour window for this fan closed at {closes:%Y-%m-%d %H:%M} UTC: the fan must"
                       " write again before anyone can reply (the reply was not sent)")
    sent = quota_used(session, last_in)
    if sent >= QUOTA:
        raise Conflict(f"WeChat's quota of {QUOTA} customer-service messages since the fan last wrote is used: the"
                       " fan must write again before anyone can reply (the reply was not sent)")
