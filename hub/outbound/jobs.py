"""The outbound RQ job: deliver one stored outbound message through its channel, with retries."""

from __future__ import annotations

import logging
import time

import redis
from sqlalchemy import update
from sqlalchemy.engine import Connection
from sqlmodel import Session, select

from channels.base import OutboundMessage, SendError, TransientSendError
from hub.core.claims import claim_message
from hub.core.db import session_scope
from hub.core.live import publish
from hub.core.models import FAILED, QUEUED, SENDING, SENT, Account, Identity, Message, utcnow
from hub.core.queue import enqueue, job_id_for, run_scheduled_now
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
        account_id = account.id
        delivery = {"type": "message.delivery", "message_id": message_id, "fan_id": message.fan_id,
                    "ticket_id": (message.meta or {}).get("ticket_id")}
        identity = session.get(Identity, message.identity_id)
        # What the message answers, as its channel described it (a forum posts the reply on that post's topic).
        answered = session.get(Message, message.reply_to_id) if message.reply_to_id else None
        outbound = OutboundMessage(account=account.key, recipient=identity.external_id, text=message.text,
                                   in_reply_to=dict(answered.meta or {}) if answered is not None else {})
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
        if not failure.permanent:
            _note_failure(state, account_id)
        delivery["error_code"] = str(failure.code)  # an agent sees the failure (or the retry) without reloading
        try:
            outcome = _record_failure(message_id, failure, state.config.send_max_attempts)
        except RetryLater:
            publish(state, [{**delivery, "status": "retrying"}])
            raise
        publish(state, [{**delivery, "status": "failed"}])
        return outcome
    _note_success(state, account_id)
    publish(state, [{**delivery, "status": "sent"}])
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


# -- after an outage of the WeChat API: the replies waiting for a retry go out at once -------------------------
#
# A transient failure (WeChat busy, time-outs) puts the account into FAILING_KEY (account id -> time of its last
# failure or probe). The first send that succeeds again takes it out and puts it into RECOVERED_KEY: then the
# replies waiting for their retry's back-off (5, 30, 120, 600 s) are made due now, PROMOTE_PER_PASS at a time
# (here and on every pass of the sweeper, `resume_sends`), instead of each waiting out its back-off. While the
# account fails, nothing is promoted; when no new reply tries the API, the sweeper lets one waiting reply try
# it every PROBE_SECONDS. Permanent failures (48-hour window, quota) say nothing about the API: not counted.

FAILING_KEY = "hub:outbound:failing"
RECOVERED_KEY = "hub:outbound:recovered"
MARKER_TTL_SECONDS = 24 * 3600
PROMOTE_PER_PASS = 100  # replies made due at once per account, per pass (the sweeper passes every second)
PROBE_SECONDS = 10  # an account failing and idle this long: one waiting reply is tried again


def _note_failure(state: HubState, account_id: int) -> None:
    try:
        with state.redis.pipeline() as pipe:
            pipe.hset(FAILING_KEY, str(account_id), str(time.time()))
            pipe.expire(FAILING_KEY, MARKER_TTL_SECONDS)
            pipe.hdel(RECOVERED_KEY, str(account_id))  # failing again: stop promoting
            pipe.execute()
    except redis.RedisError as exc:
        log.debug("could not note the send failure", extra={"error": str(exc)})


def _note_success(state: HubState, account_id: int) -> None:
    try:
        if not state.redis.hdel(FAILING_KEY, str(account_id)):
            return
        with state.redis.pipeline() as pipe:
            pipe.hset(RECOVERED_KEY, str(account_id), str(time.time()))
            pipe.expire(RECOVERED_KEY, MARKER_TTL_SECONDS)
            pipe.execute()
        promoted, _ = promote_waiting_replies(state, account_id)
    except redis.RedisError as exc:
        log.debug("could not note the send success", extra={"error": str(exc)})
        return
    log.info("WeChat accepts sends again: replies waiting for a retry go out now",
             extra={"account_id": account_id, "promoted": promoted})


def promote_waiting_replies(state: HubState, account_id: int, limit: int | None = None) -> tuple[int, int]:
    """Make at most `limit` of the account's replies that wait for a retry due now, oldest first.
    Returns (how many were made due, how many replies wait for a retry)."""
    with Session(state.engine) as session:
        waiting = session.exec(
            select(Message.id).where(Message.direction == "out", Message.account_id == account_id,
                                     Message.status == QUEUED, Message.attempts > 0)
            .order_by(Message.id).limit(5000)
        ).all()
    job_ids = [job_id_for(send_message, message_id) for message_id in waiting]
    return run_scheduled_now(state.queue, job_ids, PROMOTE_PER_PASS if limit is None else limit), len(waiting)


def resume_sends(state: HubState) -> int:
    """The sweeper's part: promote the next replies of accounts whose API works again; let one waiting reply
    probe the API of an account that failed and has been idle for PROBE_SECONDS. Returns replies made due."""
    promoted = 0
    for account_id, _ in state.redis.hgetall(RECOVERED_KEY).items():
        done, _ = promote_waiting_replies(state, int(account_id))
        promoted += done
        if not done:
            state.redis.hdel(RECOVERED_KEY, account_id)
    now = time.time()
    for account_id, last in state.redis.hgetall(FAILING_KEY).items():
        if now - float(last) < PROBE_SECONDS:
            continue
        state.redis.hset(FAILING_KEY, account_id, str(now))  # the next probe, if this one fails, in PROBE_SECONDS
        done, waiting = promote_waiting_replies(state, int(account_id), limit=1)
        promoted += done
        if not waiting:  # nothing left to retry: no probe needed
            state.redis.hdel(FAILING_KEY, account_id)
    return promoted
