"""Customer satisfaction: when a ticket is resolved the fan is asked on WeChat to score the service 1–5; the
score (and any words after it) lands on the ticket and in the figures (`csat_summary`).

The survey is a customer-service message: WeChat takes it only within 48 hours of the fan's last message
(errcode 45015) and only 5 such messages per fan between two of theirs (45047). A survey that would break either
rule is not sent; the ticket's log says why. A survey that WeChat refuses for a while (its API failing) is an
outbound message like any other: retried until delivered, once (the `csat:<ticket>` dedupe key makes one)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_
from sqlmodel import Session, col, select

from hub.core.config import Config
from hub.core.models import FAILED, IN, OUT, Account, Message, as_utc, utcnow
from hub.outbound import UNCONFIRMED, record_outbound
from hub.tickets.effects import Effects
from hub.tickets.lifecycle import link_message, lock_ticket, log_event
from hub.tickets.models import RESOLVED, Ticket
from hub.tickets.sla import WINDOW, window_closes_at

CSAT_ANSWER_HOURS = 24  # a resolved ticket's survey takes an answer this long

SURVEY_TEXT = "本次服务已结束。请为我们的服务打分：回复 1–5（5 分最满意），也可以在数字后写下您的意见。"
THANKS_TEXT = "感谢您的评价！"
QUOTA = 5  # customer-service messages WeChat takes per fan between two of the fan's messages
SATISFIED = 4  # scores of 4 and 5 count as satisfied
# "5", "5分", "５ 很好", "4，还行": a digit 1–5 not followed by another digit, then an optional comment.
_SCORE = re.compile(r"^\s*([1-5１-５])(?![0-9０-９])\s*(?:分|星)?\s*[,，.。、:：!！\s]*(.*)$", re.S)


def request_survey(session: Session, ticket: Ticket, fx: Effects) -> int | None:
    """Send the survey for a resolved ticket (once), if WeChat's window and quota allow; the outbound id."""
    if ticket.csat_requested_at is not None:
        return None
    # The survey goes where the fan wrote last, on whichever of their accounts.
    last_in = session.exec(select(Message).where(Message.fan_id == ticket.fan_id, Message.direction == IN)
                           .order_by(col(Message.id).desc()).limit(1)).first()
    account = session.get(Account, last_in.account_id if last_in else ticket.account_id)
    wechat = account is not None and account.channel == "wechat"
    closes = window_closes_at(ticket)
    if last_in is not None and last_in.account_id != ticket.account_id:
        closes = as_utc(last_in.sent_at) + WINDOW
    why = None
    if last_in is None or closes is None:
        why = "the fan has not written: there is no conversation to send a survey to"
    elif wechat and closes <= utcnow():
        why = "the fan's 48-hour window has closed"
    elif wechat and quota_used(session, last_in) >= QUOTA:
        why = f"the {QUOTA} customer-service messages WeChat allows since the fan's last message are used up"
    if why is not None:
        log_event(session, ticket, "csat_skipped", None, why=why)
        return None
    assert last_in is not None
    out_id = record_outbound(session, last_in, last_in.id, SURVEY_TEXT, source="csat", via="api",
                             meta={"csat_ticket": ticket.id}, dedupe_key=survey_key(ticket.id))
    ticket.csat_requested_at = utcnow()
    session.add(ticket)
    link_message(session, ticket.id, out_id)
    log_event(session, ticket, "csat_requested", None, message_id=out_id)
    fx.send.append(out_id)
    return out_id


def survey_key(ticket_id: int) -> str:
    return f"csat:{ticket_id}"


def _survey_reached(session: Session, ticket_id: int, answer_id: int) -> bool:
    """The ticket's survey went out before this message and WeChat did not refuse it."""
    survey = session.exec(select(Message.id, Message.status).where(Message.dedupe_key == survey_key(ticket_id))).first()
    return survey is not None and survey[0] < answer_id and survey[1] != FAILED


def quota_used(session: Session, last_in: Message) -> int:
    """Customer-service messages to the fan since their last message that took (or may have taken) quota:
    queued, sending, sent, or failed without knowing whether WeChat took it."""
    return session.exec(select(func.count()).select_from(Message).where(
        Message.direction == OUT, Message.via == "api", Message.fan_id == last_in.fan_id,
        Message.account_id == last_in.account_id, col(Message.id) > last_in.id,
        or_(Message.status != FAILED, Message.error_code == UNCONFIRMED))).one()


def parse_answer(text: str) -> tuple[int, str] | None:
    match = _SCORE.match(text or "")
    if not match:
        return None
    digit = match.group(1)
    score = int(digit) if digit.isascii() else ord(digit) - ord("０")
    return score, match.group(2).strip()[:500]


def take_answer(session: Session, config: Config, message: Message, fx: Effects) -> bool:
    """Record the fan's score if this message answers a pending survey (and thank them). A survey is pending
    for CSAT_ANSWER_HOURS after it was sent, if WeChat took it; the answer does not reopen the ticket."""
    answer = parse_answer(message.text)
    if answer is None:
        return False
    since = utcnow() - timedelta(hours=CSAT_ANSWER_HOURS)
    pending = session.exec(select(Ticket.id).where(
        Ticket.account_id == message.account_id, Ticket.fan_id == message.fan_id, Ticket.status == RESOLVED,
        col(Ticket.csat_requested_at) >= since, col(Ticket.csat_score).is_(None))
        .order_by(col(Ticket.csat_requested_at).desc()).limit(3)).all()
    ticket_id = next((t for t in pending if _survey_reached(session, t, message.id)), None)
    if ticket_id is None:
        return False
    ticket = lock_ticket(session, ticket_id)
    if ticket.csat_score is not None or ticket.status != RESOLVED:  # answered a moment ago, or reopened
        return False
    score, comment = answer
    ticket.csat_score, ticket.csat_comment = score, comment or None
    session.add(ticket)
    link_message(session, ticket.id, message.id)
    log_event(session, ticket, "csat", None, score=score, comment=comment, message_id=message.id)
    thanks = record_outbound(session, message, message.id, THANKS_TEXT, source="csat", via="api")
    link_message(session, ticket.id, thanks)
    fx.send.append(thanks)
    fx.changed(ticket.id, "ticket.csat", score=score)
    return True


def csat_summary(session: Session, since: datetime | None = None) -> dict[str, Any]:
    """The figures: surveys sent, answers, the average score and the share of satisfied fans (4 or 5), in %."""
    asked = select(Ticket).where(col(Ticket.csat_requested_at).is_not(None))
    if since is not None:
        asked = asked.where(col(Ticket.csat_requested_at) >= since)
    scored = asked.where(col(Ticket.csat_score).is_not(None)).subquery()
    requested = session.exec(select(func.count()).select_from(asked.subquery())).one()
    responses, total, satisfied = session.exec(select(
        func.count(), func.sum(scored.c.csat_score),
        func.sum(case((scored.c.csat_score >= SATISFIED, 1), else_=0)),
    ).select_from(scored)).one()
    if not responses:
        return {"requested": requested, "responses": 0, "average": None, "satisfied_percent": None}
    return {"requested": requested, "responses": responses, "average": round(float(total) / responses, 2),
            "satisfied_percent": round(100.0 * float(satisfied or 0) / responses, 1)}
