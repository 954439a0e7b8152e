"""The outbound RQ job: deliver one stored outbound message through its channel, with retries."""

from __future__ import annotations

import logging

import redis
from sqlalchemy import update
from sqlalchemy.engine import Connection

from channels.base import OutboundMessage, SendError, TransientSendError
from hub.core.claims import claim_message
from hub.core.db import session_scope
from hub.core.models import FAILED, QUEUED, SENDING, SENT, Account, Identity, Message, utcnow
from hub.core.queue import enqueue
from hub.core.state import HubState, get_state
from hub.outbound.channels import channel_for

log = logging.getLogger("hub.outbound")


def enqueue_send(message_id: int) -> bool:
    state = get_state()
    intervals = state.config.send_retry_intervals
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
        claimed = claim_message(session, message_id, "out", QUEUED, SENDING, None, attempts=Message.attempts + 1)
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
