"""Routing benchmark (a benchmark, not a test): how fast a hand-off reaches an agent, and how many tickets/s the
routing jobs assign.

    .venv/bin/python bench/tickets_routing.py [--rate 50] [--duration 20] [--tickets 2000] [--postgres] [--json]
                                              [--only latency|throughput]

1. Latency: a hub started as users start it (bench/chaos_stack.py's HubStack: `hub sandbox wechat`, `hub db
   upgrade`, a plaintext account, `hub serve`, `hub worker`, plus a second `hub worker`), a team and 20 agents
   online with room (`hub teams add`, `hub agents add`, `hub agents status`). Fans, each new, write "转人工"
   through the WeChat emulator at --rate msg/s for --duration s, open loop (chaos_stack.Load). Per ticket: its
   "assigned" TicketEvent's time minus the message's *scheduled* send time (so a backlog is not hidden), and
   minus the message's received_at (stored by the webhook), and minus the ticket's creation (routing's share);
   also the workers' CPU per hand-off. Target: p99 < 1 s, every hand-off assigned once.
2. Throughput: on a fresh instance, 2 x --tickets tickets opened un-routed, 20+ agents online with room. The
   baseline routes the first half serially in this process (per ticket: a session, lock_ticket, route, commit;
   no RQ). Then route_ticket jobs for the second half (enqueue_route) and 4 `hub worker --burst` processes;
   the clock starts when all four are up (each holds a `gate` job that the bench releases at once) and stops at
   the last "assigned" event. Every ticket must be assigned exactly once and loads must equal active counts.

Prints a table (or one JSON object with --json); exit status 2 on a MISS.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root, for bench.*, tests.support
from bench.chaos_stack import HubStack, Load  # noqa: E402
from bench.load import processes as wl  # noqa: E402
from bench.load.report import percentile, verdict  # noqa: E402

TEAM, HANDOFF_TEXT, AGENTS, BURST_WORKERS, TARGET_P99_S = "客服", "转人工", 20, 4, 1.0
GATE_KEY = "bench:routing:gate"
log = wl.log


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Hand-off → assigned latency and routing throughput.")
    parser.add_argument("--rate", type=float, default=50, help="hand-offs per second (latency phase)")
    parser.add_argument("--duration", type=float, default=20, help="seconds of hand-offs (latency phase)")
    parser.add_argument("--tickets", type=int, default=2000, help="tickets per side (throughput phase)")
    parser.add_argument("--postgres", action="store_true", help="a private PostgreSQL cluster instead of SQLite")
    parser.add_argument("--only", choices=("latency", "throughput"), help="run one phase")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    return parser.parse_args()


def in_process_state(instance: Path, database_url: str) -> Any:
    """This process's view of the instance (its database and its Redis, embedded or not)."""
    from hub.app import create_state

    return create_state({"instance_path": str(instance), "database_url": database_url, "log_level": "WARNING"})


def new_database(postgres: wl.PrivatePostgres, name: str) -> str:
    import sqlalchemy as sa

    admin = sa.create_engine(postgres.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return postgres.url(name)


# -- 1. webhook → assigned -----------------------------------------------------------------------------------


class Handoffs(Load):
    """chaos_stack's fans, each writing "转人工"; remembers each message's scheduled send time (wall clock)."""

    def __init__(self, stack: HubStack, rate: float) -> None:
        self.wall_offset = time.time() - time.monotonic()
        self.scheduled: dict[str, float] = {}  # openid -> when its message was due (time.time())
        super().__init__(stack, rate, senders=16)

    def _deliver(self, http: Any, msg_id: int, openid: str, text: str) -> None:
        self.scheduled[openid] = self._start + (msg_id - self.base) / self.rate + self.wall_offset
        super()._deliver(http, msg_id, openid, HANDOFF_TEXT)


def add_agents_cli(env: dict[str, str], capacity: int) -> None:
    """A team taking hand-offs and its agents, online, through the CLI (three commands at a time)."""
    wl.hub(env, "teams", "add", TEAM, "--skills", "human,complaint")
    emails = [f"agent{i:02d}@bench.cn" for i in range(AGENTS)]
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda e: wl.hub(env, "agents", "add", e, "--team", TEAM, "--capacity", str(capacity),
                                       "--password", "bench-password"), emails))
        list(pool.map(lambda e: wl.hub(env, "agents", "status", e, "online"), emails))


def assigned_times(state: Any, prefix: str) -> dict[str, dict[str, Any]]:
    """openid -> its message's received_at, its ticket and the times of the ticket's "assigned" events."""
    from sqlalchemy import and_
    from sqlmodel import Session, col, select

    from hub.core.models import IN, Identity, Message, as_utc
    from hub.tickets.models import Ticket, TicketEvent

    found: dict[str, dict[str, Any]] = {}
    with Session(state.engine) as session:
        like = col(Identity.external_id).like(prefix + "%")
        for openid, received in session.exec(select(Identity.external_id, Message.received_at).join(
                Message, col(Message.identity_id) == Identity.id).where(like, Message.direction == IN)).all():
            found[openid] = {"received": as_utc(received).timestamp(), "ticket": None, "assigned": []}
        rows = session.exec(select(Identity.external_id, Ticket.id, Ticket.created_at, TicketEvent.created_at).join(
            Ticket, and_(col(Ticket.fan_id) == Identity.fan_id, col(Ticket.account_id) == Identity.account_id)).join(
            TicketEvent, and_(col(TicketEvent.ticket_id) == Ticket.id, TicketEvent.kind == "assigned"),
            isouter=True).where(like)).all()
    for openid, ticket_id, opened, at in rows:
        entry = found.setdefault(openid, {"received": None, "ticket": None, "assigned": []})
        entry["ticket"], entry["opened"] = ticket_id, as_utc(opened).timestamp()
        if at is not None:
            entry["assigned"].append(as_utc(at).timestamp())
    return found


def latency_phase(args: argparse.Namespace, postgres: wl.PrivatePostgres | None) -> dict[str, Any]:
    stack = HubStack("routing")
    try:
        if postgres is not None:  # HubStack's processes all read the database from its env
            stack.database_url = new_database(postgres, "latency")
            stack.env["HUB_DATABASE_URL"] = stack.database_url
        stack.start()  # the emulator, hub serve, one hub worker, and a first message through it
        log("[routing] a team and 20 agents online (hub teams add, hub agents add, hub agents status)")
        add_agents_cli(stack.env, capacity=math.ceil(args.rate * args.duration * 1.5 / AGENTS) + 5)
        second = stack.stack.popen([str(wl.BIN / "hub"), "worker"], stack.env, stack.tmp / "worker2.log")
        state = in_process_state(stack.instance, stack.database_url)
        _wait_for_workers(state, 2)
        log(f"[routing] {args.rate:.0f} hand-offs/s for {args.duration:.0f} s")
        workers = [stack.worker.pid, second.pid]
        cpu = _cpu_with_children(workers)
        load = Handoffs(stack, args.rate)
        time.sleep(args.duration)
        load.stop()
        sent = len(load.sent)
        log(f"[routing] {sent} sent; waiting until each is assigned (the workers may have a backlog)")
        done, progress_at = -1, time.monotonic()
        while True:  # until every acknowledged hand-off is assigned, or a minute without progress
            found = assigned_times(state, f"o-{stack.name}-")  # chaos_stack.Load's fans
            now_done = sum(1 for e in found.values() if e["assigned"])
            if now_done > done:
                done, progress_at = now_done, time.monotonic()
            if done >= len(load.acked) or time.monotonic() - progress_at > 60:
                break
            time.sleep(2)
        state.engine.dispose()
        figures = _latency_figures(args, load, sent, found)
        figures["worker_cpu_ms_per_handoff"] = (_cpu_with_children(workers) - cpu) * 1000 / max(1, sent)
        return figures
    finally:
        horses = [pid for proc in stack.stack.processes for pid in wl.children_of(proc.pid) if _leads_group(pid)]
        stack.close()
        for pid in horses:  # a work horse (a process group of its own) may outlive its stopped worker
            with contextlib.suppress(OSError):
                if b"hub" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)


def _leads_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except OSError:
        return False


def _cpu_with_children(pids: list[int]) -> float:
    """CPU seconds of these processes and of their children that have exited (RQ's work horses)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    return total / os.sysconf("SC_CLK_TCK")


def _wait_for_workers(state: Any, count: int, timeout: float = 240) -> None:
    from rq import Worker

    deadline = time.monotonic() + timeout
    while len(Worker.all(queue=state.queue)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} hub workers not up within {timeout:.0f} s")
        time.sleep(0.5)


def _latency_figures(args: argparse.Namespace, load: Handoffs, sent: int,
                     found: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from_sent = sorted(min(e["assigned"]) - load.scheduled[o] for o, e in found.items()
                       if e["assigned"] and o in load.scheduled)
    from_stored = sorted(min(e["assigned"]) - e["received"] for e in found.values()
                         if e["assigned"] and e["received"])
    from_opened = sorted(min(e["assigned"]) - e["opened"] for e in found.values() if e["assigned"])
    assigned = sum(1 for e in found.values() if e["assigned"])
    p99 = percentile(from_sent, 99)
    figures = {
        "offered_rate": args.rate, "duration_s": args.duration, "sent": sent, "acknowledged": len(load.acked),
        "stored": sum(1 for e in found.values() if e["received"]),
        "tickets": sum(1 for e in found.values() if e["ticket"]), "assigned": assigned,
        "assigned_twice": sum(1 for e in found.values() if len(e["assigned"]) > 1),
        "slow_deliveries": load.slow,
        "p50_s": percentile(from_sent, 50), "p99_s": p99, "max_s": from_sent[-1] if from_sent else math.nan,
        "stored_p50_s": percentile(from_stored, 50), "stored_p99_s": percentile(from_stored, 99),
        "opened_p50_s": percentile(from_opened, 50), "opened_p99_s": percentile(from_opened, 99),
    }
    if assigned and load.scheduled:  # the rate the two workers kept up (a backlog shows as the offered rate's excess)
        first, last = min(load.scheduled.values()), max(min(e["assigned"]) for e in found.values() if e["assigned"])
        figures["handled_per_s"] = assigned / max(last - first, 1e-9)
        figures["drained_after_s"] = last - (first + args.duration)
    figures["pass"] = bool(p99 < TARGET_P99_S and assigned == sent and not figures["assigned_twice"])
    return figures


# -- 2. throughput: 4 burst workers against the same claims done serially --------------------------------------


def gate(key: str, timeout: float = 300) -> str:
    """RQ job: hold this worker until the bench sets `key` (all workers up: the routing starts together)."""
    from hub.core.state import get_state

    redis, deadline = get_state().redis, time.monotonic() + timeout
    while not redis.exists(key):
        if time.monotonic() > deadline:
            return "gate timed out"
        time.sleep(0.005)
    return "released"


def open_unrouted(state: Any, count: int, team_id: int) -> list[int]:
    from tests.support.tickets_setup import fan_message, make_account, open_for

    account = make_account(state, "routing")
    return [open_for(state, fan_message(state, account, f"fan-{i:06d}", HANDOFF_TEXT), team_id=team_id,
                     intent="human", run=False)[0] for i in range(count)]


def serial_baseline(state: Any, ticket_ids: list[int]) -> float:
    """The same claims as route_ticket's, one after the other in this process, without RQ; seconds taken."""
    from hub.core.db import session_scope
    from hub.tickets import Effects
    from hub.tickets.lifecycle import lock_ticket
    from hub.tickets.routing import route

    started = time.perf_counter()
    for ticket_id in ticket_ids:
        with session_scope(state.engine) as session:
            route(session, lock_ticket(session, ticket_id), Effects())
    return time.perf_counter() - started


def routed_once(state: Any, ticket_ids: list[int]) -> tuple[int, int, float | None, bool]:
    """(tickets assigned, tickets with more than one "assigned" event, time of the last one, invariants hold)."""
    from sqlmodel import Session, col, func, select

    from hub.core.models import as_utc
    from hub.tickets.models import ASSIGNED, Ticket, TicketEvent
    from tests.support.tickets_setup import check_invariants

    with Session(state.engine) as session:
        assigned = session.exec(select(func.count()).select_from(Ticket).where(
            col(Ticket.id).in_(ticket_ids), Ticket.status == ASSIGNED)).one()
        events = session.exec(select(TicketEvent.ticket_id, func.count(), func.max(TicketEvent.created_at)).where(
            col(TicketEvent.ticket_id).in_(ticket_ids), TicketEvent.kind == "assigned")
            .group_by(TicketEvent.ticket_id)).all()
    try:
        check_invariants(state)
        invariants = True
    except AssertionError:
        invariants = False
    last = max((as_utc(at).timestamp() for _, _, at in events), default=None)
    return assigned, sum(1 for _, n, _ in events if n > 1), last, invariants


def throughput_phase(args: argparse.Namespace, stack: wl.Stack, postgres: wl.PrivatePostgres | None) -> dict:
    from rq.registry import StartedJobRegistry

    from hub.tickets.jobs import enqueue_route
    from tests.support.tickets_setup import make_agent, make_team

    tmp = stack.tempdir("hub-routing-")
    instance = tmp / "instance"
    database_url = new_database(postgres, "throughput") if postgres else f"sqlite:///{instance / 'hub.db'}"
    env = wl.hub_env(instance, database_url, PYTHONPATH=str(wl.ROOT))  # the workers import `gate` from here
    wl.hub(env, "db", "upgrade")
    state = in_process_state(instance, database_url)
    team = make_team(state, TEAM, ("human",))
    agents = max(AGENTS, math.ceil(2 * args.tickets / 95))  # room for every ticket (a capacity is at most 100)
    for i in range(agents):
        make_agent(state, f"agent{i:02d}@bench.cn", (TEAM,),
                   capacity=min(100, math.ceil(2 * args.tickets / agents) + 5))
    log(f"[throughput] opening {2 * args.tickets} tickets, un-routed")
    ticket_ids = open_unrouted(state, 2 * args.tickets, team)
    serial_ids, worker_ids = ticket_ids[:args.tickets], ticket_ids[args.tickets:]
    state.queue.empty()  # the agents' wake-ups (route_waiting) would route the workers' tickets before them

    log(f"[throughput] baseline: {args.tickets} claims serially in this process")
    serial_s = serial_baseline(state, serial_ids)
    serial = routed_once(state, serial_ids)

    log(f"[throughput] {args.tickets} route_ticket jobs, {BURST_WORKERS} hub worker --burst")
    state.redis.delete(GATE_KEY)
    for _ in range(BURST_WORKERS):
        state.queue.enqueue("bench.tickets_routing.gate", GATE_KEY)
    for ticket_id in worker_ids:
        enqueue_route(ticket_id)
    workers = [stack.popen([str(wl.BIN / "hub"), "worker", "--burst"], env, tmp / f"burst{i}.log")
               for i in range(BURST_WORKERS)]
    deadline = time.monotonic() + 300
    while StartedJobRegistry(queue=state.queue).count < BURST_WORKERS:
        if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
            raise RuntimeError(f"the burst workers did not all start:\n{(tmp / 'burst0.log').read_text()[-2000:]}")
        time.sleep(0.01)
    released = time.time()
    state.redis.set(GATE_KEY, "1")
    for worker in workers:
        if worker.wait(600) != 0:
            raise RuntimeError(f"a burst worker failed:\n{(tmp / 'burst0.log').read_text()[-2000:]}")
    exited = time.time()
    parallel = routed_once(state, worker_ids)
    state.engine.dispose()
    workers_s = (parallel[2] or exited) - released
    figures = {
        "tickets": args.tickets, "workers": BURST_WORKERS,
        "serial_s": serial_s, "serial_per_s": args.tickets / serial_s,
        "serial_assigned": serial[0], "serial_twice": serial[1],
        "workers_s": workers_s, "workers_per_s": args.tickets / workers_s, "workers_exit_s": exited - released,
        "workers_assigned": parallel[0], "workers_twice": parallel[1], "invariants": parallel[3],
    }
    figures["ratio"] = figures["workers_per_s"] / figures["serial_per_s"]
    figures["pass"] = bool(serial[0] == parallel[0] == args.tickets and not serial[1] and not parallel[1]
                           and parallel[3])
    return figures


# -- report -------------------------------------------------------------------------------------------------


def print_table(r: dict[str, Any]) -> None:
    rows: list[tuple[str, str, str]] = []
    for name in ("latency", "throughput"):
        if "error" in r.get(name, {}):
            rows.append((f"{name}: failed", "", r[name]["error"][:100]))
    if "p99_s" in r.get("latency", {}):
        a = r["latency"]
        rows += [
            (f"hand-offs: {a['offered_rate']:.0f}/s for {a['duration_s']:.0f} s, 2 hub workers", "", ""),
            ("  sent / acknowledged / stored", f"{a['sent']} / {a['acknowledged']} / {a['stored']}", ""),
            ("  tickets / assigned / assigned twice", f"{a['tickets']} / {a['assigned']} / {a['assigned_twice']}",
             verdict(a["assigned"] == a["sent"] and not a["assigned_twice"])),
            ("  sent → assigned p50 / p99 / max s", f"{a['p50_s']:.2f} / {a['p99_s']:.2f} / {a['max_s']:.2f}",
             f"{verdict(a['p99_s'] < TARGET_P99_S)} (p99 < {TARGET_P99_S:.0f} s)"),
            ("  stored → assigned p50 / p99 s", f"{a['stored_p50_s']:.2f} / {a['stored_p99_s']:.2f}", ""),
            ("  ticket opened → assigned p50 / p99 s", f"{a['opened_p50_s']:.2f} / {a['opened_p99_s']:.2f}",
             "(the routing job's share)"),
            ("  hand-offs/s handled (first sent → last assigned)", f"{a.get('handled_per_s', math.nan):.1f}",
             f"last assigned {a.get('drained_after_s', math.nan):.0f} s after the sending stopped"),
            ("  hub worker CPU ms per hand-off (work horses included)", f"{a['worker_cpu_ms_per_handoff']:.0f}",
             "3 jobs: process_message, route_ticket, send_message"),
            ("  deliveries slower than 5 s or failed", str(a["slow_deliveries"]), ""),
        ]
    if "ratio" in r.get("throughput", {}):
        b = r["throughput"]
        rows += [
            (f"routing {b['tickets']} tickets", "", ""),
            ("  serial claims, one process: tickets/s", f"{b['serial_per_s']:.0f}", f"{b['serial_s']:.1f} s"),
            (f"  {b['workers']} hub worker --burst: tickets/s", f"{b['workers_per_s']:.0f}",
             f"{b['workers_s']:.1f} s (all exited after {b['workers_exit_s']:.1f} s)"),
            ("  workers / serial", f"{b['ratio']:.2f}", ""),
            ("  assigned (serial, workers) / twice", f"{b['serial_assigned']}, {b['workers_assigned']} / "
             f"{b['serial_twice'] + b['workers_twice']}", verdict(b["pass"])),
            ("  loads = active tickets, none over capacity", str(b["invariants"]), verdict(b["invariants"])),
        ]
    width = max(len(row[0]) for row in rows) + 2
    vwidth = max(len(row[1]) for row in rows) + 2
    print(f"\nTicket routing — {r['database']} + embedded Redis, {r['cpus']} CPUs shared by the load and the hub "
          f"(load average at start: {r['loadavg_at_start']:.1f})")
    print("-" * (width + vwidth + 30))
    for name, value, status in rows:
        print(f"{name:<{width}}{value:>{vwidth}}  {status}")
    print("-" * (width + vwidth + 30))
    print(f"overall: {'PASS' if r['pass'] else 'MISS'}")


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    stack = wl.Stack()
    result: dict[str, Any] = {"database": "PostgreSQL" if args.postgres else "SQLite", "cpus": os.cpu_count(),
                              "loadavg_at_start": os.getloadavg()[0]}
    try:
        postgres = stack.postgres() if args.postgres else None
        for name, phase in (("latency", lambda: latency_phase(args, postgres)),
                            ("throughput", lambda: throughput_phase(args, stack, postgres))):
            if args.only in (None, name):
                try:
                    result[name] = phase()
                except Exception as exc:  # noqa: BLE001 - one line for the user; the other phase still runs
                    log(f"{name} failed: {exc}")
                    result[name] = {"error": (str(exc) or type(exc).__name__).splitlines()[0], "pass": False}
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        return 130
    finally:
        stack.close()
    result["pass"] = all(part["pass"] for key, part in result.items() if key in ("latency", "throughput"))
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print_table(result)
    failed = any("error" in part for key, part in result.items() if key in ("latency", "throughput"))
    return 1 if failed else 0 if result["pass"] else 2


if __name__ == "__main__":
    sys.exit(main())
