"""The tickets' RQ jobs: routing one ticket, routing every waiting ticket when capacity frees, and the
periodic tick (presence, SLA, escalation, auto-close). Each takes ids, loads fresh state and checks it.

The tick is enqueued by `schedule_tick`, which every worker's sweeper thread calls once a second; at most one
tick per tickets_tick_seconds runs cluster-wide (see below)."""

from __future__ import annotations

import logging

import redis
from sqlmodel import Session

from hub.core.db import session_scope
from hub.core.models import utcnow
from hub.core.queue import enqueue
from hub.core.state import HubState, get_state
from hub.outbound import enqueue_send
from hub.tickets import csat, presence, sla
from hub.tickets.effects import WAKE_KEY, Effects, publish
from hub.tickets.errors import NotFound
from hub.tickets.lifecycle import lock_ticket
from hub.tickets.models import OPEN, RESOLVED, Ticket
from hub.tickets.routing import route, waiting_tickets

log = logging.getLogger("hub.tickets")
ROUTE_RETRIES = (1, 5, 30)  # a routing job that failed (database busy, deadlock victim) runs again


def enqueue_route(ticket_id: int) -> bool:
    state = get_state()
    return enqueue(state.queue, route_ticket, ticket_id, retry_intervals=ROUTE_RETRIES, replace_dead=True)


def enqueue_route_waiting() -> bool:
    state = get_state()
    return enqueue(state.queue, route_waiting, retry_intervals=ROUTE_RETRIES, replace_dead=True)


def run_effects(state: HubState, effects: Effects) -> None:
    """After the commit: enqueue the routing and send jobs a change asked for, publish its live updates."""
    for ticket_id in sorted(effects.route):
        enqueue_route(ticket_id)
    if effects.wake:
        try:
            state.redis.incr(WAKE_KEY)
        except redis.RedisError as exc:
            log.warning("could not bump the routing wake-up", extra={"error": str(exc)})
        enqueue_route_waiting()
    for message_id in effects.send:
        enqueue_send(message_id)
    for ticket_id in effects.resolved:
        enqueue(state.queue, survey, ticket_id, retry_intervals=ROUTE_RETRIES, replace_dead=True)
    publish(state, effects.live)


def route_now(fx: Effects) -> None:
    """Route the tickets a change opened right here (a worker job that has just committed them), instead of
    queueing a job for each: a hand-off is assigned without waiting behind the queue. What fails here is left in
    `fx.route` for run_effects to enqueue."""
    for ticket_id in sorted(fx.route):
        try:
            route_ticket(ticket_id)
        except Exception:
            log.exception("routing at once failed; a route job will retry", extra={"ticket_id": ticket_id})
            continue
        fx.route.discard(ticket_id)


def survey(ticket_id: int) -> str:
    """Ask the fan of a resolved ticket for a satisfaction score (once; skipped with the reason when WeChat's
    window or quota does not allow it, or the ticket was reopened meanwhile)."""
    state = get_state()
    fx = Effects()
    with session_scope(state.engine) as session:
        ticket = _locked(session, ticket_id, RESOLVED)
        if isinstance(ticket, str):
            return ticket
        message_id = csat.request_survey(session, ticket, fx)
    run_effects(state, fx)
    return f"sent as message {message_id}" if message_id else "skipped (see the ticket's events)"


def _locked(session: Session, ticket_id: int, status: str) -> Ticket | str:
    """The ticket, locked, if it is still in `status`; else why the job has nothing to do."""
    try:
        ticket = lock_ticket(session, ticket_id)
    except NotFound:
        return "skipped: no such ticket"
    return ticket if ticket.status == status else f"skipped: {ticket.status}"


def route_ticket(ticket_id: int) -> str:
    """Assign one open ticket to the best available agent, or leave it waiting for capacity."""
    state = get_state()
    fx = Effects()
    with session_scope(state.engine) as session:
        ticket = _locked(session, ticket_id, OPEN)
        if isinstance(ticket, str):
            return ticket
        agent_id = route(session, ticket, fx)
    run_effects(state, fx)
    if agent_id is None:
        return "waiting: no agent available"
    log.info("ticket assigned", extra={"ticket_id": ticket_id, "agent_id": agent_id})
    return f"assigned to {agent_id}"


def route_waiting() -> str:
    """Route the waiting tickets that someone now has room for, most urgent and oldest first; go round again
    while capacity keeps freeing (WAKE_KEY changed during the pass), so a wake-up during a pass is not lost."""
    state = get_state()
    assigned = passes = 0
    while True:
        passes += 1
        try:
            seen = state.redis.get(WAKE_KEY)
        except redis.RedisError:
            seen = None
        assigned_now = _route_pass(state)
        assigned += assigned_now
        try:
            again = state.redis.get(WAKE_KEY) != seen
        except redis.RedisError:
            again = False
        if not (again or assigned_now) or passes >= 50:
            break
    return f"assigned {assigned} in {passes} passes"


def _route_pass(state) -> int:  # type: ignore[no-untyped-def]
    with session_scope(state.engine) as session:
        ticket_ids = waiting_tickets(session)
    assigned = 0
    for ticket_id in ticket_ids:
        fx = Effects()
        with session_scope(state.engine) as session:
            try:
                ticket = lock_ticket(session, ticket_id)
            except NotFound:
                continue
            agent_id = route(session, ticket, fx)
        fx.route.clear()
        run_effects(state, fx)
        assigned += agent_id is not None
    return assigned


# -- the periodic tick -------------------------------------------------------------------------------------------
#
# Every worker's sweeper thread (hub.intake.sweeper) calls `schedule_tick` once a second; a Redis key set with
# NX and an expiry of tickets_tick_seconds lets one call per period through, cluster-wide, and the job's fixed id
# keeps a slow tick from being queued twice. Each step runs in its own short transaction, its effects after it.

TICK_KEY = "hub:tickets:tick"


def schedule_tick(state: HubState | None = None) -> bool:
    """Enqueue the tick if tickets_tick_seconds have passed since the last one anywhere; True when enqueued."""
    state = state or get_state()
    if not state.redis.set(TICK_KEY, "1", nx=True, ex=max(1, state.config.tickets_tick_seconds)):
        return False
    return enqueue(state.queue, tick, replace_dead=True)


def tick() -> str:
    """Presence fade, SLA warnings, breaches and escalation, auto-close, and the safety net for waiting tickets
    (routed when someone has room, in case a wake-up was lost). A failing step does not stop the others."""
    state = get_state()
    done: list[str] = []
    failed: list[str] = []
    steps = (("fade", lambda s, fx: presence.fade(s, state.config, fx)),
             ("sla", lambda s, fx: sla.check(s, state.config, utcnow(), fx)),
             ("closed", lambda s, fx: sla.auto_close(s, state.config, utcnow(), fx)))
    for name, step in steps:
        fx = Effects()
        try:
            with session_scope(state.engine) as session:
                result = step(session, fx)
        except Exception:
            log.exception("tickets tick step failed", extra={"step": name})
            failed.append(name)
            continue
        run_effects(state, fx)
        done.append(f"{name} {result}")
    with session_scope(state.engine) as session:
        waiting = bool(waiting_tickets(session, 1))
    if waiting:
        enqueue_route_waiting()
    done.append(f"waiting {'routed' if waiting else 'none'}")
    if failed:
        raise RuntimeError(f"tickets tick: {', '.join(failed)} failed ({'; '.join(done)})")
    return "; ".join(done)
