"""Issue 19's reliability of routing: 1,000 tickets, 20 agents, 4 `hub worker` processes racing — every ticket
assigned once, nobody over capacity, equal agents within one ticket of each other; and a randomised run of
agents resolving, leaving and coming back while tickets queue, with the invariants checked after every step."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, func, select

from hub.core.db import session_scope
from hub.tickets import Effects, run_effects
from hub.tickets.jobs import enqueue_route
from hub.tickets.lifecycle import lock_ticket, set_status
from hub.tickets.models import ASSIGNED, OPEN, RESOLVED, WAITING, Ticket, TicketEvent
from hub.tickets.presence import set_status as set_presence
from hub.tickets.routing import candidates
from hub.tickets.teams import set_capacity
from tests.support.servers import worker_env
from tests.support.tickets_setup import check_invariants, fan_message, loads, make_account, make_agent, open_for

TICKETS, AGENTS, WORKERS = 1000, 20, 4


@pytest.mark.slow
def test_four_workers_racing_assign_every_ticket_once_and_evenly(state: Any, hub_config: dict[str, Any],
                                                                   tmp_path: Path) -> None:
    account = make_account(state)
    agents = [make_agent(state, f"agent{i}@x.cn", capacity=60) for i in range(AGENTS)]
    ticket_ids = [open_for(state, fan_message(state, account, f"fan{i}", "人工"), run=False)[0]
                  for i in range(TICKETS)]
    for ticket_id in ticket_ids:  # every ticket routed twice over: the duplicates race too
        enqueue_route(ticket_id)
    logs = [open(tmp_path / f"worker{i}.log", "wb") for i in range(WORKERS)]  # noqa: SIM115
    started = time.monotonic()
    workers = [subprocess.Popen([sys.executable, "-m", "hub", "worker", "--burst"], env=worker_env(hub_config),
                                stdout=log, stderr=log) for log in logs]
    for process in workers:
        assert process.wait(240) == 0, (tmp_path / "worker0.log").read_text()[-3000:]
    elapsed = time.monotonic() - started
    with Session(state.engine) as session:
        statuses = dict(session.exec(select(Ticket.status, func.count()).group_by(Ticket.status)).all())
        assigned_events = session.exec(select(TicketEvent.ticket_id, func.count()).where(
            TicketEvent.kind == "assigned").group_by(TicketEvent.ticket_id)).all()
    assert statuses == {ASSIGNED: TICKETS}
    assert len(assigned_events) == TICKETS and all(count == 1 for _, count in assigned_events)
    check_invariants(state)
    per_agent = [loads(state)[agent][0] for agent in agents]
    assert sum(per_agent) == TICKETS and max(per_agent) - min(per_agent) <= 1, per_agent
    print(f"{TICKETS} tickets routed by {WORKERS} workers in {elapsed:.1f} s")


def test_in_process_workers_route_as_forking_ones_do(state: Any, hub_config: dict[str, Any], tmp_path: Path) -> None:
    """`hub worker --no-fork` (each job in the worker's own process): the same claims, the same guarantees."""
    account = make_account(state)
    agents = [make_agent(state, f"agent{i}@x.cn", capacity=30) for i in range(5)]
    for i in range(100):
        enqueue_route(open_for(state, fan_message(state, account, f"fan{i}", "人工"), run=False)[0])
    logs = [open(tmp_path / f"inproc{i}.log", "wb") for i in range(2)]  # noqa: SIM115
    workers = [subprocess.Popen([sys.executable, "-m", "hub", "worker", "--burst", "--no-fork"],
                                env=worker_env(hub_config), stdout=log, stderr=log) for log in logs]
    for process in workers:
        assert process.wait(120) == 0, (tmp_path / "inproc0.log").read_text()[-3000:]
    with Session(state.engine) as session:
        assert dict(session.exec(select(Ticket.status, func.count()).group_by(Ticket.status)).all()) == {ASSIGNED: 100}
    check_invariants(state)
    per_agent = [loads(state)[agent][0] for agent in agents]
    assert max(per_agent) - min(per_agent) <= 1, per_agent


def _nobody_waits_while_capacity_is_free(state: Any) -> None:
    with Session(state.engine) as session:
        waiting = session.exec(select(Ticket).where(Ticket.status == OPEN)).all()
        for ticket in waiting:
            assert candidates(session, ticket.team_id) == [], f"ticket {ticket.id} waits while an agent has room"


def test_a_randomised_day_keeps_every_invariant_after_every_step(state: Any, worker: Any) -> None:
    rng = random.Random(19)
    account = make_account(state)
    agents = [make_agent(state, f"a{i}@x.cn", capacity=rng.randint(1, 3), status=rng.choice(["online", "away"]))
              for i in range(5)]
    fans = 0
    for _step in range(120):
        action = rng.choice(["open", "open", "resolve", "resolve", "wait", "presence", "capacity"])
        fx = Effects()
        if action == "open":
            fans += 1
            open_for(state, fan_message(state, account, f"fan{fans}", "人工"))
        with session_scope(state.engine) as session:
            active = session.exec(select(Ticket.id).where(col(Ticket.status).in_((ASSIGNED, WAITING)))).all()
            if action == "resolve" and active:
                set_status(session, state.config, lock_ticket(session, rng.choice(active)), RESOLVED, None, fx)
            elif action == "wait" and active:
                ticket = lock_ticket(session, rng.choice(active))
                if ticket.status == ASSIGNED:
                    set_status(session, state.config, ticket, WAITING, ticket.assignee_id, fx)
            elif action == "presence":
                set_presence(session, rng.choice(agents), rng.choice(["online", "online", "away", "offline"]), fx)
            elif action == "capacity":  # lowering it below the load is another test's (test_routing)
                agent = rng.choice(agents)
                set_capacity(session, agent, rng.randint(loads(state)[agent][0], 4), fx)
        run_effects(state, fx)
        worker()
        check_invariants(state)
        _nobody_waits_while_capacity_is_free(state)
