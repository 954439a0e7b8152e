"""RQ jobs: plain functions that take ids, load fresh state, check it before acting (idempotent).

Each job has a deterministic id (see hub.queue), so a retried delivery or a sweep never runs it twice
at once, and each checks the row's state so a job that runs again does nothing twice.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import redis
from sqlalchemy import and_, or_, update
from sqlalchemy.engine import Connection
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
from hub.state import HubState, get_state

log = logging.getLogger("hub.tasks")
MAX_PROCESS_ATTEMPTS = 5  # runs of process_message before a message that keeps failing is marked failed


def _claim(session: Session, message_id: int, direction: str, ready: str, busy: str, stale_seconds: int | None,
           **values: object) -> bool:
    """Take a message from `ready` to `busy` — or, with `stale_seconds`, take it over if it sat in `busy` so long
    that its worker must have died. A conditional UPDATE, so two workers never both get it."""
    claimable = Message.status == ready
    if stale_seconds is not None:
        stale = utcnow() - timedelta(seconds=stale_seconds)
        claimable = or_(claimable, and_(Message.status == busy, Message.processing_started_at < stale))
    return bool(session.execute(
        update(Message)
        .where(Message.id == message_id, Message.direction == direction, claimable)
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


UNCONFIRMED = "unconfirmed"  # error code of a send whose worker died while WeChat was being called


def send_message(message_id: int) -> str:
    """Deliver one outbound message through its channel, recording the outcome on the message.

    At most once: `sending` is committed before WeChat is called and `sent` right after it answers, in one
    small UPDATE on a connection taken beforehand. A message still `sending` after its worker died is never
    sent again (WeChat has no idempotency key: it may have been delivered); the sweeper marks it failed as
    UNCONFIRMED for an agent to check. See the README, "Delivery".
    """
    state = get_state()
    with session_scope(state.engine) as session:
        claimed = _claim(session, message_id, "out", QUEUED, SENDING, None, attempts=Message.attempts + 1)
        if not claimed:
            return "skipped: not queued"
        message = session.get(Message, message_id)
        account = session.get(Account, message.account_id)
        identity = session.get(Identity, message.identity_id)
        outbound = OutboundMessage(account=account.key, recipient=identity.external_id, text=message.text)
    channel = channel_for(state, account)
    failure: SendError | None = None
    remote_id = None
    with _connection_for_the_mark(state) as connection:  # taken before the call: nothing to wait for after it
        try:
            remote_id = channel.send(outbound)
        except SendError as exc:
            failure = exc
        except redis.RedisError as exc:  # e.g. waiting too long for another process's token refresh
            failure = TransientSendError("redis", f"shared token store unavailable: {type(exc).__name__}")
        else:
            record_sent(connection, message_id)
    if failure is not None:
        return _record_failure(message_id, failure, state.config.send_max_attempts)
    if remote_id:
        with session_scope(state.engine) as session:
            message = session.get(Message, message_id)
            message.meta = {**(message.meta or {}), "remote_id": str(remote_id)}
            session.add(message)
    return "sent"


def _connection_for_the_mark(state: HubState) -> Connection:
    connection = state.engine.connect()
    if state.engine.dialect.name != "sqlite":  # one round trip instead of BEGIN, UPDATE, COMMIT
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
    return connection


def record_sent(connection: Connection, message_id: int) -> None:
    """The durable mark right after WeChat accepted a message: one UPDATE of one row, committed at once."""
    connection.execute(
        update(Message).where(Message.id == message_id)
        .values(status=SENT, processed_at=utcnow(), error_code=None, error_message=None)
    )
    if connection.in_transaction():
        connection.commit()


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


def sweep(grace_seconds: int | None = None) -> dict[str, int]:
    """Enqueue what was stored but never queued (Redis was down), whose job Redis lost (restarted without its
    data) or that lost its worker (killed mid-job), after loading the intake journals of web processes that
    stopped before loading them. `grace_seconds` (default: the configured grace) is 0 after an outage."""
    state = get_state()
    recover_journals(state)
    now = utcnow()
    grace_seconds = state.config.sweep_grace_seconds if grace_seconds is None else grace_seconds
    grace = now - timedelta(seconds=grace_seconds)
    stale = now - timedelta(seconds=state.config.stale_processing_seconds)
    with session_scope(state.engine) as session:
        # A message whose processing failed this often is a poison message: stop and show it as failed.
        given_up = session.execute(
            update(Message)
            .where(Message.direction == IN, Message.status == PROCESSING, Message.processing_started_at < stale,
                   Message.attempts >= MAX_PROCESS_ATTEMPTS)
            .values(status=FAILED, error_message="processing failed repeatedly; see the failed job registry")
        ).rowcount
        # A send whose worker died while calling WeChat: it may have been delivered; never sent twice.
        unconfirmed = session.execute(
            update(Message)
            .where(Message.direction == "out", Message.status == SENDING, Message.processing_started_at < stale)
            .values(status=FAILED, error_code=UNCONFIRMED,
                    error_message="the worker stopped while WeChat was being called: the fan may or may not "
                                  "have received this reply; check with the fan before sending it again")
        ).rowcount
    if given_up:
        log.error("messages given up after repeated processing failures", extra={"count": given_up})
    if unconfirmed:
        log.error("sends left unconfirmed by a worker that died", extra={"count": unconfirmed})
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
                Message.direction == "out", Message.status == QUEUED, Message.received_at < grace
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


EPOCH_KEY = "hub:epoch"


def redis_epoch(connection: redis.Redis) -> str:
    """A token that lives as long as Redis's data: a Redis that restarted empty answers a new one."""
    value = connection.get(EPOCH_KEY)
    if value is None:
        connection.set(EPOCH_KEY, uuid.uuid4().hex, nx=True)
        value = connection.get(EPOCH_KEY)
    return value.decode() if isinstance(value, bytes) else str(value)
