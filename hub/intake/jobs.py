"""The intake's periodic job: the sweeper, which makes sure nothing stored is left behind."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import and_, or_, update
from sqlmodel import Session, select

from hub.conversation import MAX_PROCESS_ATTEMPTS, enqueue_process
from hub.core.db import session_scope
from hub.core.models import FAILED, IN, PROCESSING, QUEUED, RECEIVED, SENDING, Message, utcnow
from hub.core.state import get_state
from hub.intake.accept import recover_journals
from hub.outbound import UNCONFIRMED, enqueue_send

log = logging.getLogger("hub.intake")


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
