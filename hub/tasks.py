"""RQ jobs: plain functions that take ids, load fresh state, check it before acting (idempotent).

Each job has a deterministic id (see hub.queue), so a retried delivery or a sweep never runs it twice
at once, and each checks the row's state so a job that runs again does nothing twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import redis
from sqlalchemy import and_, or_, update
from sqlmodel import Session, select

from bots.base import Handoff, Reply
from channels.base import OutboundMessage, SendError, TransientSendError
from hub import handoff, kb_effects
from hub.accept import recover_journals
from hub.db import session_scope
from hub.models import (
    FAILED,
    IN,
    PROCESSED,
    PROCESSING,
    QUEUED,
    RECEIVED,
    REPLY_ASYNC,
    REPLY_NONE,
    REPLY_PENDING,
    SENDING,
    SENT,
    Account,
    Identity,
    Message,
    utcnow,
)
from hub.outbound import channel_for
from hub.pipeline import decide_for, inbound_from_row
from hub.queue import enqueue
from hub.replies import claim_reply, record_outbound, reply_meta
from hub.state import get_state

log = logging.getLogger("hub.tasks")
MAX_PROCESS_ATTEMPTS = 5  # runs of process_message before a message that keeps failing is marked failed


def _claim(session: Session, message_id: int, direction: str, ready: str, busy: str, stale_seconds: int,
           **values: object) -> bool:
    """Take a message from `ready` to `busy` — or take it over if it sat in `busy` so long that its worker
    must have died. A conditional UPDATE, so two workers never both get it."""
    stale = utcnow() - timedelta(seconds=stale_seconds)
    return bool(session.execute(
        update(Message)
        .where(Message.id == message_id, Message.direction == direction,
               or_(Message.status == ready, and_(Message.status == busy, Message.processing_started_at < stale)))
        .values(status=busy, processing_started_at=utcnow(), **values)
    ).rowcount)


def process_message(message_id: int) -> str:
    """Tag, decide and answer one inbound message; hand it to a person when no bot can."""
    state = get_state()
    with session_scope(state.engine) as session:
        claimed = _claim(session, message_id, IN, RECEIVED, PROCESSING, state.config.stale_processing_seconds,
                         attempts=Message.attempts + 1)
    if not claimed:
        return "skipped: already processed or in progress"
    to_send: list[int] = []
    with session_scope(state.engine) as session:
        message = session.get(Message, message_id)
        account = session.get(Account, message.account_id)
        identity = session.get(Identity, message.identity_id)
        inbound = inbound_from_row(message, account, identity)
        for processor in state.extras.get("processors", ()):
            processor(session, message, inbound)  # tagging, intent: each idempotent per message
        if message.reply_state == REPLY_PENDING:
            decision = decide_for(state, account.id, account.key, inbound, message.fan_id, message.id)
            if isinstance(decision, Reply) and claim_reply(session, message.id, REPLY_ASYNC):
                to_send.append(record_outbound(session, message, message.id, decision.text, source=decision.source,
                                               via="api", meta=reply_meta(decision)))
                kb_effects.apply(session, message.id, message.text, decision)
            elif isinstance(decision, Handoff) and claim_reply(session, message.id, REPLY_NONE):
                kb_effects.apply(session, message.id, message.text, decision)
                to_send.extend(handoff.open_ticket(session, message, decision))
            else:
                claim_reply(session, message.id, REPLY_NONE)
        message.status = PROCESSED
        message.processed_at = utcnow()
        session.add(message)
    for out_id in to_send:
        enqueue_send(out_id)
    return "processed"


def enqueue_send(message_id: int) -> bool:
    state = get_state()
    intervals = state.extras.get("send_retry_intervals", (5, 30, 120, 600))
    return enqueue(state.queue, send_message, message_id, retry_intervals=intervals, replace_dead=True)


class RetryLater(Exception):
    """A transient delivery failure: RQ retries the job with back-off."""


def send_message(message_id: int) -> str:
    """Deliver one outbound message through its channel, recording the outcome on the message."""
    state = get_state()
    with session_scope(state.engine) as session:
        claimed = _claim(session, message_id, "out", QUEUED, SENDING, state.config.stale_processing_seconds,
                         attempts=Message.attempts + 1)
        if not claimed:
            return "skipped: not queued"
        message = session.get(Message, message_id)
        account = session.get(Account, message.account_id)
        identity = session.get(Identity, message.identity_id)
        outbound = OutboundMessage(account=account.key, recipient=identity.external_id, text=message.text)
    try:
        remote_id = channel_for(state, account).send(outbound)
    except SendError as exc:
        return _record_failure(message_id, exc, state.config.send_max_attempts)
    except redis.RedisError as exc:  # e.g. waiting too long for another process's token refresh
        failure = TransientSendError("redis", f"shared token store unavailable: {type(exc).__name__}")
        return _record_failure(message_id, failure, state.config.send_max_attempts)
    with session_scope(state.engine) as session:
        message = session.get(Message, message_id)
        message.status = SENT
        message.processed_at = utcnow()
        message.error_code = message.error_message = None
        message.meta = {**(message.meta or {}), **({"remote_id": str(remote_id)} if remote_id else {})}
        session.add(message)
    return "sent"


def _record_failure(message_id: int, exc: SendError, max_attempts: int) -> str:
    state = get_state()
    with session_scope(state.engine) as session:
        message = session.get(Message, message_id)
        message.error_code = str(exc.code)[:32]
        message.error_message = exc.message[:500]
        final = exc.permanent or message.attempts >= max_attempts
        message.status = FAILED if final else QUEUED
        session.add(message)
    log.warning(
        "delivery failed",
        extra={"message_id": message_id, "code": str(exc.code), "final": final, "error": exc.message},
    )
    if final:
        return f"failed: {exc.code}"
    raise RetryLater(f"transient delivery failure {exc.code}: {exc.message}")


def sweep() -> dict[str, int]:
    """Enqueue what was stored but never queued (Redis was down) or lost its worker (killed mid-job), after
    loading the intake journals of web processes that stopped before loading them."""
    state = get_state()
    recover_journals(state)
    now = utcnow()
    grace = now - timedelta(seconds=state.config.sweep_grace_seconds)
    stale = now - timedelta(seconds=state.config.stale_processing_seconds)
    with session_scope(state.engine) as session:
        # A message whose processing failed this often is a poison message: stop and show it as failed.
        given_up = session.execute(
            update(Message)
            .where(Message.direction == IN, Message.status == PROCESSING, Message.processing_started_at < stale,
                   Message.attempts >= MAX_PROCESS_ATTEMPTS)
            .values(status=FAILED, error_message="processing failed repeatedly; see the failed job registry")
        ).rowcount
    if given_up:
        log.error("messages given up after repeated processing failures", extra={"count": given_up})
    with Session(state.engine) as session:
        inbound = session.exec(
            select(Message.id).where(
                Message.direction == IN,
                or_(
                    and_(Message.status == RECEIVED, Message.received_at < grace),
                    and_(Message.status == PROCESSING, Message.processing_started_at < stale),
                ),
            ).limit(1000)
        ).all()
        outbound = session.exec(
            select(Message.id).where(
                Message.direction == "out",
                or_(
                    and_(Message.status == QUEUED, Message.received_at < grace),
                    and_(Message.status == SENDING, Message.processing_started_at < stale),
                ),
            ).limit(1000)
        ).all()
    queued_in = sum(enqueue_process(mid, replace_dead=True) for mid in inbound)
    queued_out = sum(enqueue_send(mid) for mid in outbound)
    if inbound or outbound:
        log.info("sweep", extra={"inbound": queued_in, "outbound": queued_out})
    return {"inbound": queued_in, "outbound": queued_out}


def enqueue_process(message_id: int, *, replace_dead: bool = False) -> bool:
    state = get_state()
    return enqueue(state.queue, process_message, message_id, replace_dead=replace_dead)
