"""Issue 19's reliability: a worker killed in the middle of routing — the ticket is still routed.

A real `hub worker` (RQ's forking worker, its scheduler, the sweeper thread that offers the tickets' tick) on
the test's own SQLite file and redis-server routes a few hundred queued `route_ticket` jobs. To be sure a kill
lands inside a routing transaction, the test holds SQLite's write lock for a moment (`BEGIN IMMEDIATE`, as any
other writer can): the work horse then waits inside `lock_ticket`, its transaction begun, and is SIGKILLed there.

What recovers the killed job (the tests check it and print it):
- the work horse killed, its worker alive: RQ's retry. The worker sees its horse die ("Work-horse terminated
  unexpectedly"), and because route jobs carry `Retry` (hub.tickets.jobs.ROUTE_RETRIES: 1, 5, 30 s) schedules
  the job again; the worker's scheduler puts it back in the queue a second later and the rerun assigns the
  still-open ticket. (The tick is pushed out to an hour in that test, so nothing else could have.)
- the whole worker killed (horse and scheduler too), a new `hub worker` started: not RQ, for minutes. The job
  stays "started" in StartedJobRegistry until its entry expires (90 s after the last heartbeat) and a worker's
  maintenance (at its start, then every 10 minutes) cleans the registry, which only then retries it. The
  tickets' periodic tick does it: every tickets_tick_seconds (10 s) it looks for open tickets that an agent has
  room for and enqueues `route_waiting`, which assigns the abandoned ticket. The tick job waits its turn in the
  one queue, behind the backlog of route jobs, so the ticket is assigned once that backlog is worked off.
Either way the killed transaction left nothing behind: SQLite never applied it, and the hub's writer lock (a
flock) died with the process. (When RQ does retry the abandoned job, minutes later, it finds the ticket
assigned and skips it.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, func, select

from hub.core.queue import job_id_for
from hub.tickets.jobs import ROUTE_RETRIES, enqueue_route, route_ticket, route_waiting
from hub.tickets.models import ASSIGNED, Ticket, TicketEvent
from tests.support.servers import RedisServer, stop_processes, worker_env
from tests.support.tickets_setup import check_invariants, fan_message, loads, make_account, make_agent, open_for

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # a subprocess shares the file
TICKETS, AGENTS, CAPACITY = 300, 10, 40


@pytest.fixture
def hub_config(database_url: str, own_redis: RedisServer, tmp_path: Path) -> dict[str, Any]:
    return {"instance_path": str(tmp_path / "instance"), "database_url": database_url, "redis_url": own_redis.url,
            "secret_key": "test-secret-key", "testing": True, "log_format": "text"}


@pytest.fixture
def hub_worker(hub_config: dict[str, Any], tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """`hub worker` as users run it (the defaults users get, or `settings`), configured like the test's app."""
    started: list[subprocess.Popen[bytes]] = []
    log_path = tmp_path / "worker.log"

    def start(**settings: Any) -> subprocess.Popen[bytes]:
        env = worker_env(hub_config, **settings)
        with log_path.open("ab") as log:
            process = subprocess.Popen([sys.executable, "-m", "hub", "worker"], env=env, stdout=log, stderr=log)
        started.append(process)
        return process

    yield start
    horses = [horse for process in started if process.poll() is None for horse in [_work_horse(process)] if horse]
    stop_processes(started)
    for horse in horses:  # a horse leads its own process group: it may outlive its worker
        with contextlib.suppress(ProcessLookupError):
            os.kill(horse, signal.SIGKILL)
    if log_path.exists():
        print(log_path.read_text(errors="replace")[-4000:])


def _queued_tickets(state: Any) -> list[int]:
    """Agents online with room for every ticket, then TICKETS tickets opened un-routed and a route job each."""
    account = make_account(state)
    for i in range(AGENTS):
        make_agent(state, f"agent{i}@x.cn", capacity=CAPACITY)
    state.queue.empty()  # the agents' wake-up (route_waiting): the route jobs are the ones under test
    ticket_ids = [open_for(state, fan_message(state, account, f"fan{i}", "转人工"), run=False)[0]
                  for i in range(TICKETS)]
    for ticket_id in ticket_ids:
        assert enqueue_route(ticket_id)
    return ticket_ids


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if entry.isdigit() and int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _work_horse(worker: subprocess.Popen[bytes]) -> int | None:
    """RQ's work horse: the worker's child that leads a process group of its own (RQ's setpgrp)."""
    for child in _children(worker.pid):
        with contextlib.suppress(OSError):
            if os.getpgid(child) == child:
                return child
    return None


def _assigned(state: Any) -> int:
    with Session(state.engine) as session:
        return session.exec(select(func.count()).select_from(Ticket).where(Ticket.status == ASSIGNED)).one()


def _wait(predicate: Callable[[], Any], seconds: float, what: str) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > seconds:
            raise AssertionError(f"{what}: not within {seconds} s")
        time.sleep(0.1)
    return time.monotonic() - start


class DatabaseLock:
    """SQLite's write lock held by another connection, as any writer may hold it: hub writers wait for it."""

    def __init__(self, database_url: str) -> None:
        self.conn = sqlite3.connect(make_url(database_url).database, timeout=30, isolation_level=None)

    def __enter__(self) -> DatabaseLock:
        self.conn.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.execute("ROLLBACK")
        self.conn.close()


def _horse_stuck_in_routing(state: Any, worker: subprocess.Popen[bytes]) -> tuple[int, str]:
    """With the database locked: a work horse that has been waiting inside a route job for half a second."""
    registry = StartedJobRegistry(queue=state.queue)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert worker.poll() is None, "the worker exited"
        horse = _work_horse(worker)
        running = registry.get_job_ids(cleanup=False)  # cleanup would be the test recovering jobs itself
        if horse and len(running) == 1 and running[0].startswith("route_ticket-"):
            time.sleep(0.5)
            if _work_horse(worker) == horse and registry.get_job_ids(cleanup=False) == running:
                return horse, running[0]
        time.sleep(0.05)
    raise AssertionError("no work horse waited inside a route job")


def _check_routed_once(state: Any, ticket_ids: list[int]) -> None:
    """Every ticket assigned, by exactly one "assigned" event, nothing else logged; loads equal active counts."""
    with Session(state.engine) as session:
        statuses = dict(session.exec(select(Ticket.status, func.count()).group_by(Ticket.status)).all())
        events = session.exec(select(TicketEvent.kind, func.count()).group_by(TicketEvent.kind)).all()
        per_ticket = session.exec(select(TicketEvent.ticket_id, func.count()).where(
            TicketEvent.kind == "assigned").group_by(TicketEvent.ticket_id)).all()
        unassigned = session.exec(select(func.count()).select_from(Ticket).where(
            col(Ticket.assignee_id).is_(None))).one()
    assert statuses == {ASSIGNED: len(ticket_ids)}
    assert dict(events) == {"opened": len(ticket_ids), "assigned": len(ticket_ids)}
    assert len(per_ticket) == len(ticket_ids) and all(count == 1 for _, count in per_ticket)
    assert unassigned == 0
    check_invariants(state)
    assert sum(load for load, _ in loads(state).values()) == len(ticket_ids)


def _job(state: Any, ticket_id: int) -> Job:
    return Job.fetch(job_id_for(route_ticket, ticket_id), connection=state.redis)


def _assignee(state: Any, ticket_id: int) -> int | None:
    with Session(state.engine) as session:
        return session.get(Ticket, ticket_id).assignee_id


@pytest.mark.slow
@sqlite_only
def test_a_work_horse_killed_while_routing_is_retried_and_its_ticket_routed(
    state: Any, hub_config: dict[str, Any], hub_worker: Any
) -> None:
    ticket_ids = _queued_tickets(state)
    # The tick's safety net (route_waiting) out of the way, so that only RQ's retry can route the killed ticket.
    worker = hub_worker(tickets_tick_seconds=3600)
    _wait(lambda: _assigned(state) >= 20, 120, "the worker routing")
    killed: list[str] = []
    with DatabaseLock(hub_config["database_url"]):
        for _ in range(3):  # each next job waits on the lock too: three horses killed mid-transaction
            horse, job_id = _horse_stuck_in_routing(state, worker)
            os.kill(horse, signal.SIGKILL)
            killed.append(job_id)
            _wait(lambda horse=horse: _work_horse(worker) != horse, 10, "the killed horse gone")
        with Session(state.engine) as session:  # WAL: reads go on under the lock
            killed_tickets = session.exec(select(Ticket).where(
                col(Ticket.id).in_([int(job_id.rsplit("-", 1)[1]) for job_id in killed]))).all()
            assert [ticket.status for ticket in killed_tickets] == ["open"] * 3  # nothing half-changed
        check_invariants(state)
    took = _wait(lambda: _assigned(state) == TICKETS, 120, "every ticket assigned")
    assert worker.poll() is None, "the worker outlives its work horses"
    _check_routed_once(state, ticket_ids)
    for job_id in killed:
        ticket_id = int(job_id.rsplit("-", 1)[1])
        job = _job(state, ticket_id)
        _wait(lambda job=job: job.get_status(refresh=True) == JobStatus.FINISHED, 30, f"{job_id} rerun")
        print(f"{job_id}: killed, retries left {job.retries_left}, rerun: {job.return_value()!r}")
        assert job.retries_left == len(ROUTE_RETRIES) - 1  # RQ's retry ran it once more
        assert job.return_value() == f"assigned to {_assignee(state, ticket_id)}", "the rerun routed it"
    print(f"all {TICKETS} tickets assigned {took:.1f} s after the lock was released")


@pytest.mark.slow
@sqlite_only
def test_a_worker_killed_while_routing_leaves_its_ticket_to_the_next_worker(
    state: Any, hub_config: dict[str, Any], hub_worker: Any
) -> None:
    ticket_ids = _queued_tickets(state)
    worker = hub_worker()
    _wait(lambda: _assigned(state) >= 20, 120, "the worker routing")
    with DatabaseLock(hub_config["database_url"]):
        horse, job_id = _horse_stuck_in_routing(state, worker)
        family = _children(worker.pid)  # the work horse and the scheduler process
        worker.kill()
        for pid in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        worker.wait(10)
        assert horse in family
    abandoned = int(job_id.rsplit("-", 1)[1])
    with Session(state.engine) as session:
        assert session.get(Ticket, abandoned).status == "open"  # the killed transaction left nothing
    check_invariants(state)
    restarted = time.monotonic()
    hub_worker()
    _wait(lambda: _assigned(state) == TICKETS, 120, "every ticket assigned after the new worker started")
    took = time.monotonic() - restarted
    _check_routed_once(state, ticket_ids)
    job = _job(state, abandoned)
    sweep = Job.fetch(job_id_for(route_waiting), connection=state.redis)
    print(f"{job_id}: abandoned; all assigned {took:.1f} s after the new worker started; the job is still "
          f"{job.get_status(refresh=True)} in RQ (retries left {job.retries_left}); the tick's route_waiting: "
          f"{sweep.return_value()!r}")
    # Not RQ: the abandoned job never ran again (still "started", no retry used); the tick's route_waiting did.
    assert job.get_status(refresh=True) == JobStatus.STARTED and job.retries_left == len(ROUTE_RETRIES)

