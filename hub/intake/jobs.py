"""The intake's periodic job: the sweeper, which makes sure nothing stored is left behind."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, update
from sqlmodel import Session, select

from hub.conversation import MAX_PROCESS_ATTEMPTS, enqueue_process, process_message
from hub.core.db import session_scope
from hub.core.models import FAILED, IN, PROCESSING, QUEUED, RECEIVED, SENDING, Message, as_utc, utcnow
from hub.core.queue import ENDED, MISSING, job_id_for, run_state
from hub.core.state import HubState, get_state
from hub.intake.accept import recover_journals
from hub.outbound import UNCONFIRMED, enqueue_send, resume_sends, send_message

log = logging.getLogger("hub.intake")

GIVEN_UP = "processing failed repeatedly; see the failed job registry"
UNCONFIRMED_TEXT = ("the worker stopped while WeChat was being called: the fan may or may not have received this "
                    "reply; check with the fan before sending it again")
LEFT_UNCONFIRMED = {"status": FAILED, "error_code": UNCONFIRMED, "error_message": UNCONFIRMED_TEXT}
# A claimed message whose job Redis does not know (lost with Redis's data) is taken back after this long: its
# run, if a horse still runs it, ended long before (jobs time out after 120 s, hub.core.queue.enqueue).
MISSING_JOB_SECONDS = 150
REAP_LIMIT = 200  # claimed messages looked at per pass (there are about as many as work horses)
UNQUEUED_AFTER_SECONDS = 5  # a new reply not in the queue this long lost the horse that recorded it


def sweep(grace_seconds: int | None = None, quick: bool = False) -> dict[str, int]:
    """Enqueue what was stored but never queued (Redis was down), whose job Redis lost (restarted without its
    data) or that lost its worker (killed mid-job), after loading the intake journals of web processes that
    stopped before loading them. `grace_seconds` (default: the configured grace) is 0 after an outage.

    `quick` (the sweeper, every second): only take back messages whose job is known to have ended without them
    (`reap`), enqueue new replies whose job never got queued, and promote replies waiting for a retry once the
    WeChat API works again (hub.outbound.jobs.resume_sends)."""
    state = get_state()
    taken_back, unconfirmed_now = reap(state)
    promoted = resume_sends(state)
    if quick:
        fresh_in, fresh_out = _unqueued(state, utcnow())
        queued_in = sum(enqueue_process(mid, replace_dead=True) for mid in sorted({*fresh_in, *taken_back}))
        queued_out = sum(enqueue_send(mid) for mid in fresh_out)
        if taken_back or unconfirmed_now or promoted:
            log.info("sweep", extra={"inbound": queued_in, "unconfirmed": unconfirmed_now, "promoted": promoted})
        return {"inbound": queued_in, "outbound": queued_out, "unconfirmed": unconfirmed_now, "promoted": promoted}
    recover_journals(state)
    now = utcnow()
    grace_seconds = state.config.sweep_grace_seconds if grace_seconds is None else grace_seconds
    grace = now - timedelta(seconds=grace_seconds)
    stale = now - timedelta(seconds=state.config.stale_processing_seconds)
    # The fallback when Redis cannot tell (a job it lost, a heartbeat it kept): the time since the claim.
    with session_scope(state.engine) as session:
        # A message whose processing failed this often is a poison message: stop and show it as failed.
        given_up = session.execute(
            update(Message)
            .where(Message.direction == IN, Message.status == PROCESSING, Message.processing_started_at < stale,
                   Message.attempts >= MAX_PROCESS_ATTEMPTS)
            .values(status=FAILED, error_message=GIVEN_UP)
        ).rowcount
        # A send whose worker died while calling WeChat: it may have been delivered; never sent twice.
        unconfirmed = session.execute(
            update(Message)
            .where(Message.direction == "out", Message.status == SENDING, Message.processing_started_at < stale)
            .values(**LEFT_UNCONFIRMED)
        ).rowcount
    _report_dead(given_up, unconfirmed)
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
    queued_in = sum(enqueue_process(mid, replace_dead=True) for mid in sorted({*inbound, *taken_back}))
    queued_out = sum(enqueue_send(mid) for mid in outbound)
    if inbound or outbound or taken_back:
        log.info("sweep", extra={"inbound": queued_in, "outbound": queued_out, "promoted": promoted})
    return {"inbound": queued_in, "outbound": queued_out, "unconfirmed": unconfirmed_now + unconfirmed,
            "promoted": promoted}


def reap(state: HubState) -> tuple[list[int], int]:
    """Claimed messages whose run is over without them, found by asking Redis about their deterministic job
    (hub.core.queue.run_state): a work horse killed mid-job leaves its message `processing` or `sending` and
    its job failed, retried or finished. An inbound message goes back to `received` (to be enqueued again by
    the caller) or, after MAX_PROCESS_ATTEMPTS runs, to `failed`; an outbound one becomes `failed` as
    `unconfirmed` at once (at most once: README "Delivery"). Conditional UPDATEs: only if still claimed by
    the same run (same processing_started_at). Returns (inbound ids taken back, sends left unconfirmed)."""
    now = utcnow()
    with Session(state.engine) as session:
        claimed = session.exec(
            select(Message.id, Message.direction, Message.processing_started_at, Message.attempts).where(
                or_(and_(Message.status == PROCESSING, Message.direction == IN),
                    and_(Message.status == SENDING, Message.direction == "out")),
            ).order_by(Message.processing_started_at).limit(REAP_LIMIT)
        ).all()
    dead = []
    for message_id, direction, started_at, attempts in claimed:
        job = process_message if direction == IN else send_message
        run = run_state(state.queue, job_id_for(job, message_id))
        if run == ENDED or (run == MISSING and _older(started_at, now, MISSING_JOB_SECONDS)):
            dead.append((message_id, direction, started_at, attempts))
    taken_back: list[int] = []
    given_up = unconfirmed = 0
    with session_scope(state.engine) as session:
        for message_id, direction, started_at, attempts in dead:
            same_run = (Message.id == message_id, Message.processing_started_at == started_at)
            if direction == IN and attempts < MAX_PROCESS_ATTEMPTS:
                if session.execute(update(Message).where(*same_run, Message.status == PROCESSING)
                                   .values(status=RECEIVED, processing_started_at=None)).rowcount:
                    taken_back.append(message_id)
            elif direction == IN:
                given_up += session.execute(update(Message).where(*same_run, Message.status == PROCESSING)
                                            .values(status=FAILED, error_message=GIVEN_UP)).rowcount
            else:
                unconfirmed += session.execute(
                    update(Message).where(*same_run, Message.status == SENDING).values(**LEFT_UNCONFIRMED)
                ).rowcount
    if taken_back:
        log.warning("messages whose worker died taken back", extra={"count": len(taken_back)})
    _report_dead(given_up, unconfirmed)
    return taken_back, unconfirmed


def _report_dead(given_up: int, unconfirmed: int) -> None:
    if given_up:
        log.error("messages given up after repeated processing failures", extra={"count": given_up})
    if unconfirmed:
        log.error("sends left unconfirmed by a worker that died", extra={"count": unconfirmed})


def _unqueued(state: HubState, now: datetime) -> tuple[list[int], list[int]]:
    """Messages stored and replies recorded a few seconds ago, never tried, not yet old enough for the grace
    rule: enqueue_process / enqueue_send check whether their job is really in the queue (a work horse killed
    before its claim, or between recording a reply and enqueueing it, leaves them without one)."""
    grace = now - timedelta(seconds=state.config.sweep_grace_seconds)
    recent = now - timedelta(seconds=UNQUEUED_AFTER_SECONDS)
    with Session(state.engine) as session:
        inbound = session.exec(
            select(Message.id).where(Message.direction == IN, Message.status == RECEIVED,
                                     Message.received_at < recent, Message.received_at >= grace)
            .order_by(Message.received_at).limit(50)
        ).all()
        outbound = session.exec(
            select(Message.id).where(Message.direction == "out", Message.status == QUEUED, Message.attempts == 0,
                                     Message.received_at < recent, Message.received_at >= grace)
            .order_by(Message.received_at).limit(50)
        ).all()
    return list(inbound), list(outbound)


def _older(moment: datetime | None, now: datetime, seconds: int) -> bool:
    return moment is None or (now - as_utc(moment)).total_seconds() > seconds
