"""Webhook load benchmark (a benchmark, not a test): the hub's WeChat webhook against a bare Flask ceiling.

    .venv/bin/python bench/webhook_load.py [--duration 20] [--rate 200] [--postgres | --database-url URL]
                                           [--json] [--py-spy DIR [--py-spy-gil]]
                                           [--kb KB.jsonl --kb-queries QUERIES.jsonl [--kb-rates 10 20 40 80]]

1. Starts `hub serve --workers 2` on a fresh instance (SQLite file + embedded Redis by default, or PostgreSQL)
   after `hub db upgrade`, a plaintext-mode account `bench` and two keyword rules; and bench/bare_webhook.py
   (signature check only, same gunicorn settings) as the ceiling.
2. Closed loop with wrk (bench/webhook_load.lua): text messages, a unique MsgId each, every 4th a keyword
   that gets a passive reply, each under its own signed (timestamp, nonce) as WeChat pushes them (the hub
   refuses a second body under a pair: wrk reads them from a file signed just before each run, sized for
   --wrk-max-rate). --rounds (2) rounds of the bare app then the hub, --duration s each;
   each server's best run counts (which gunicorn worker accepts which connection is a lottery that can
   halve either server's figure). wrk and the servers share the cores.
3. Open loop at --rate msg/s against the hub (Python threads, latency measured from the scheduled send
   time, so a stalled server cannot hide its queue: no coordinated omission).
4. Duplicate deliveries: the same MsgId three times (sequential like WeChat's retries, and concurrent).
5. Accounting, once the hub has stopped (each process loads the rest of its intake journal as it stops):
   inbound rows stored (`hub stats --json`, and per MsgId in the database) against the MsgIds the
   generators got a 2xx for; a missing MsgId is looked up in the intake files the hub left behind. wrk
   abandons the requests in flight when its time is up; those are redelivered afterwards (as WeChat
   retries a delivery it got no answer for: same query string, same body) so every MsgId sent is
   acknowledged and the stored rows must match exactly.

Prints a table with PASS/MISS per target (throughput >= 50% of the ceiling, p99 < 50 ms at 200 msg/s, zero
lost or duplicated) or, with --json, one JSON object. Every process and temp dir is removed at the end.

This script is the sequence of the phases; their parts are in bench/load/ (the wire, the processes, the
load drivers, the store checks, the report: see bench/load/__init__.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root, for bench.load, tests.support
from bench.load import drivers, processes, report, store  # noqa: E402
from bench.load.processes import Stack, log  # noqa: E402
from bench.load.wire import TOKEN  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Load-test the hub's WeChat webhook against a bare Flask ceiling.")
    parser.add_argument("--duration", type=float, default=20, help="seconds of closed-loop load per server")
    parser.add_argument("--rate", type=float, default=200, help="msg/s offered in the open-loop phase")
    parser.add_argument("--rate-duration", type=float, default=20, help="seconds of the open-loop phase")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-max-rate", type=float, default=drivers.DEFAULT_WRK_MAX_RATE,
                        help="msg/s each wrk run's file of signed query strings is sized for (a run that runs "
                             "out fails)")
    parser.add_argument("--senders", type=int, default=32, help="threads of the open-loop generator")
    parser.add_argument("--reply-every", type=int, default=4, help="every n-th message gets a passive reply")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of wrk before each measured run")
    parser.add_argument("--rounds", type=int, default=2,
                        help="closed-loop runs per server, alternating; each server's best counts")
    parser.add_argument("--duplicates", type=int, default=40, help="MsgIds delivered three times each")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of both servers")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker of both servers")
    db = parser.add_mutually_exclusive_group()
    db.add_argument("--database-url", help="use this database (e.g. postgresql+psycopg2://...) instead of SQLite")
    db.add_argument("--postgres", action="store_true", help="start a private PostgreSQL cluster and use it")
    parser.add_argument("--redis-url", help="use this Redis instead of the embedded one")
    parser.add_argument("--no-bare-rate", action="store_true", help="skip the open-loop run against the bare app")
    parser.add_argument("--py-spy", type=Path, metavar="DIR", help="record the hub workers during its wrk run")
    parser.add_argument("--py-spy-gil", action="store_true", help="only sample threads holding the GIL (CPU)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--kb", type=Path, help="import this knowledge base (JSONL) first: the FAQ bot answers in the "
                                                "webhook (e.g. ../shared/data/kb/beauty-kb.jsonl)")
    parser.add_argument("--kb-queries", type=Path, help="fans' questions (query JSONL) sent between the keywords")
    parser.add_argument("--kb-rates", nargs="*", type=float, default=[],
                        help="open-loop runs of 10 s at these rates first: the share of questions answered passively "
                             "per rate (where the FAQ bot's answers start going through the API instead)")
    return parser.parse_args()


def run(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    load_at_start = os.getloadavg()[0]
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    tmp = stack.tempdir("hub-bench-")
    instance = tmp / "instance"
    database_url = args.database_url
    postgres: processes.PrivatePostgres | None = None
    if args.postgres:
        log("starting a private PostgreSQL cluster")
        postgres = stack.postgres()
        database_url = postgres.url()
    # The SQLite file named here, not left to the hub's default, so that the accounting reads the same file.
    database_url = database_url or f"sqlite:///{(instance / 'hub.db').resolve()}"
    env = processes.hub_env(instance, database_url, args.redis_url)

    log("hub db upgrade, account, rules")
    processes.prepare_instance(env, args.kb)
    fan_texts = None
    if args.kb_queries is not None:  # what fans ask, for the FAQ bot (every message not a keyword)
        from knowledge.kb_eval import load_queries

        fan_texts = [text for text, _ in load_queries(args.kb_queries)]

    hub_port, bare_port = processes.free_port(), processes.free_port()
    hub_log, bare_log = tmp / "hub.log", tmp / "bare.log"
    log(f"starting the hub on :{hub_port} and the bare app on :{bare_port}")
    hub_proc = stack.serve_hub(env, hub_port, args.workers, args.threads, hub_log)
    bare_proc = stack.popen([sys.executable, str(processes.BENCH / "bare_webhook.py"), "--port", str(bare_port),
                             "--token", TOKEN, "--workers", str(args.workers), "--threads", str(args.threads)],
                            env, bare_log)
    processes.wait_http(hub_port, hub_proc, hub_log)
    processes.wait_http(bare_port, bare_proc, bare_log)
    stored_before = store.messages_in(env)

    run_id = str(int(time.time()))[-6:]  # MsgIds unique across runs too (an external --database-url)
    wrk_runs: list[dict[str, Any]] = []
    tails: list[dict[str, Any]] = []
    if args.warmup > 0:
        log(f"warm-up: {args.warmup:.0f} s of wrk on each server")
        drivers.run_wrk(bare_port, run_id + "3", args.warmup, args)
        warm = drivers.run_wrk(hub_port, run_id + "1", args.warmup, args)
        wrk_runs.append(warm)
        tails.append(drivers.redeliver_tail(hub_port, warm, args))

    # Rounds alternate bare and hub, and each server's best run counts: which gunicorn worker accepts
    # which of wrk's connections is a lottery, and a run whose connections mostly land on one worker
    # measures half the machine (seen on both servers: 1,800 instead of 3,500 msg/s for the bare app).
    bare_runs, hub_runs = [], []
    for round_no in range(1, args.rounds + 1):
        log(f"closed loop, round {round_no}/{args.rounds}: bare Flask app, {args.duration:.0f} s")
        bare_runs.append(drivers.measured_wrk(bare_port, run_id + f"4{round_no}", args.duration, args,
                                              lambda: processes.server_pids(bare_proc.pid)))
        log(f"closed loop, round {round_no}/{args.rounds}: hub, {args.duration:.0f} s")
        spies = (processes.start_py_spy(stack, hub_proc.pid, args.duration, args.py_spy, env, args.py_spy_gil)
                 if args.py_spy and round_no == 1 else [])
        hub_run = drivers.measured_wrk(hub_port, run_id + f"2{round_no}", args.duration, args,
                                       lambda: processes.server_pids(hub_proc.pid, instance, postgres))
        for spy in spies:
            spy.wait(60)
        hub_runs.append(hub_run)
        wrk_runs.append(hub_run)
        tails.append(drivers.redeliver_tail(hub_port, hub_run, args))
    bare_wrk = max(bare_runs, key=lambda run: run["rps"])
    hub_wrk = max(hub_runs, key=lambda run: run["rps"])

    time.sleep(2)  # let the servers settle after the closed loop
    sweep = []
    for n, rate in enumerate(args.kb_rates):  # where passive FAQ answers start falling back to the API
        log(f"open loop: {rate:.0f} msg/s for 10 s against the hub (rate sweep)")
        sweep.append(drivers.open_loop(hub_port, run_id + f"8{n}", rate, 10, args.senders, args.reply_every,
                                       fan_texts))
        time.sleep(2)
    log(f"open loop: {args.rate:.0f} msg/s for {args.rate_duration:.0f} s against the hub")
    hub_ol = drivers.open_loop(hub_port, run_id + "5", args.rate, args.rate_duration, args.senders,
                               args.reply_every, fan_texts)
    bare_ol = None
    if not args.no_bare_rate:
        log(f"open loop: {args.rate:.0f} msg/s for {args.rate_duration:.0f} s against the bare app")
        bare_ol = drivers.open_loop(bare_port, run_id + "6", args.rate, args.rate_duration, args.senders,
                                    args.reply_every, fan_texts)

    log(f"duplicates: {args.duplicates} MsgIds x3")
    dup = drivers.duplicate_burst(hub_port, run_id + "7", args.duplicates)

    # Counted once the hub has stopped: a message acknowledged from the intake journal is in the database
    # within tens of milliseconds, and every process loads the rest of its journal as it stops.
    log("stopping the hub, then counting the stored rows")
    stack.stop(hub_proc)
    stored = store.messages_in(env) - stored_before
    every_open_loop = {**hub_ol, "msgids": [m for part in (hub_ol, *sweep) for m in part["msgids"]],
                       "redelivered": sum(part["redelivered"] for part in (hub_ol, *sweep)),
                       "redelivered_ok": sum(part["redelivered_ok"] for part in (hub_ol, *sweep))}
    accounting = store.accounting(run_id, stored, database_url, instance, wrk_runs, tails, every_open_loop, dup)
    for part in (hub_ol, dup, *sweep, *([bare_ol] if bare_ol else [])):
        part.pop("msgids", None)
    ratio = hub_wrk["rps"] / bare_wrk["rps"]
    targets = report.targets(ratio, hub_ol, accounting)
    return {
        "database": "PostgreSQL" if database_url.startswith("postgresql") else "SQLite",
        "redis": "Redis server" if args.redis_url else "embedded Redis",
        "threads": args.threads,
        "cpus": os.cpu_count(), "loadavg_at_start": load_at_start, "workers": args.workers,
        "wrk_threads": args.wrk_threads,
        "connections": args.connections, "duration_s": args.duration,
        "note": "wrk / the open-loop generator run on the same CPUs as the server under test",
        "bare_wrk": bare_wrk, "hub_wrk": hub_wrk, "ratio": ratio,
        "rounds_rps": {"bare": [round(run["rps"]) for run in bare_runs],
                       "hub": [round(run["rps"]) for run in hub_runs]},
        "hub_open_loop": hub_ol, "bare_open_loop": bare_ol, "duplicates": dup, "accounting": accounting,
        "rate_sweep": [{"rate": part["offered_rate"], "p50_ms": part["p50_ms"], "p99_ms": part["p99_ms"],
                        "passive_share_of_questions": round(part["passive_other"] / max(part["other"], 1), 3)}
                       for part in (*sweep, hub_ol)],
        "targets": targets,
        "pass": report.passed(targets, accounting, dup),
        "py_spy_dir": str(args.py_spy) if args.py_spy else None,
    }


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def main() -> int:
    args = parse_args()
    stack = Stack()
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started in the background (SIGINT ignored)
    try:
        result = run(args, stack)
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        return 130
    except Exception as exc:  # noqa: BLE001 - one line for the user, then clean up
        log(f"failed: {exc}")
        return 1
    finally:
        stack.close()
    for key in ("bare_wrk", "hub_wrk"):
        result[key].pop("threads", None)
        result[key].pop("queries", None)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        report.print_table(result)
    return 0 if result["pass"] else 2


if __name__ == "__main__":
    sys.exit(main())
