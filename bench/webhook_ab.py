"""Paired load runs of two versions of the hub (a benchmark, not a test): is a change faster?

    .venv/bin/python bench/webhook_ab.py --a REV --b REV [--postgres] [--runs 6] [--duration 8]

This machine's speed drifts more within minutes than most changes move the webhook (the same hub has
measured anywhere between 729 and 1,671 msg/s in one series), so two single runs of bench/webhook_load.py
cannot tell a 10% change. Here both versions run side by side, each its own `hub serve` (2 workers x 4
threads) on its own database (SQLite + embedded Redis, or one private PostgreSQL cluster with a database
each), and wrk alternates between them: A B, B A, A B... Each pair ran within the same half minute, so
the pairs that a version wins say more than either median.

A REV is a git revision (checked out into a temporary worktree, imported through PYTHONPATH, so the
packages installed in this venv serve both), `.` for the working tree, or the path of a directory holding a
checkout (e.g. a copy of the working tree with an experiment in it: a path containing a "/"). Each request
carries its own signed timestamp and nonce (bench/load/wire.py), as the hub's replay memory requires. Prints
each run (msg/s, server CPU ms per message), then the pairs each side won and the medians. A failed request
stops the run.
"""

from __future__ import annotations

import argparse
import functools
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root, for bench.load, tests.support
from bench.load import drivers, processes  # noqa: E402
from bench.load.processes import Stack, log  # noqa: E402


def source_tree(rev: str, stack: Stack) -> Path:
    """The directory to import the hub from for `rev`."""
    if rev == ".":
        return processes.ROOT
    if "/" in rev and Path(rev).is_dir():
        return Path(rev).resolve()
    tree = Path(tempfile.mkdtemp(prefix="hub-ab-")) / "tree"
    stack.cleanups.append(lambda: shutil.rmtree(tree.parent, ignore_errors=True))  # runs after the removal
    git = ["git", "-C", str(processes.ROOT), "worktree"]
    subprocess.run([*git, "add", "--detach", "-q", str(tree), rev], check=True)
    stack.cleanups.append(lambda: subprocess.run([*git, "remove", "--force", str(tree)], check=False))
    return tree


def imported_from(env: dict[str, str]) -> str:
    """Where the `hub` command imports the hub from with this environment: the checkout a side really runs
    (-P: no current directory in front of PYTHONPATH, as for the console script)."""
    done = subprocess.run([sys.executable, "-P", "-c", "import hub.app; print(hub.app.__file__)"], env=env,
                          capture_output=True, text=True, check=True)
    return str(Path(done.stdout.strip()).parent.parent)


def msgid_prefix(name: str, run: int) -> str:
    """Digits, like WeChat's MsgIds; unique per server and run (each server has its own database)."""
    return f"{'AB'.index(name) + 1}{run:02d}"


def checked(result: dict[str, Any]) -> dict[str, Any]:
    if result["non2xx"] or result["errors_total"]:
        raise RuntimeError(f"the hub failed requests: {result['non2xx']} non-2xx, {result['errors']}")
    return result


def start(name: str, rev: str, database_url: str | None, args: argparse.Namespace,
          stack: Stack) -> tuple[int, Any, Path]:
    tmp = stack.tempdir(f"hub-ab-{name}-")
    instance = tmp / "instance"
    env = processes.hub_env(instance, database_url, PYTHONPATH=str(source_tree(rev, stack)))
    log(f"{name} ({rev}): hub imported from {imported_from(env)}")
    processes.prepare_instance(env)
    port = processes.free_port()
    proc = stack.serve_hub(env, port, 2, 4, tmp / "hub.log")
    processes.wait_http(port, proc, tmp / "hub.log")
    drivers.run_wrk(port, msgid_prefix(name, 0), 3, args)  # warm-up
    return port, proc, instance


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a", required=True, help="a git revision, . for the working tree, or a directory")
    parser.add_argument("--b", required=True, help="a git revision, . for the working tree, or a directory")
    parser.add_argument("--postgres", action="store_true", help="one private PostgreSQL cluster, a database each")
    parser.add_argument("--runs", type=int, default=6, help="runs of each version (pairs)")
    parser.add_argument("--duration", type=float, default=8, help="seconds of wrk per run")
    args = parser.parse_args()
    args.wrk_threads, args.connections, args.reply_every = 2, 32, 4
    args.wrk_max_rate = drivers.DEFAULT_WRK_MAX_RATE
    stack = Stack()
    try:
        urls: dict[str, str | None] = {"A": None, "B": None}
        postgres: processes.PrivatePostgres | None = None
        if args.postgres:
            postgres = stack.postgres()
            with sa.create_engine(postgres.url(), isolation_level="AUTOCOMMIT").connect() as conn:
                for name in urls:
                    conn.execute(sa.text(f"CREATE DATABASE hub_{name.lower()}"))
                    urls[name] = postgres.url(f"hub_{name.lower()}")
        servers = {name: start(name, rev, urls[name], args, stack) for name, rev in (("A", args.a), ("B", args.b))}
        runs: dict[str, list[tuple[float, float]]] = {"A": [], "B": []}
        for i in range(args.runs):
            for name in ("A", "B") if i % 2 == 0 else ("B", "A"):
                port, proc, instance = servers[name]
                # with PostgreSQL, both servers' backends count: only one is busy
                pids = functools.partial(processes.server_pids, proc.pid, instance, postgres)
                result = checked(drivers.measured_wrk(port, msgid_prefix(name, i + 1), args.duration, args, pids))
                cpu_ms = result["server_cpu_ms_per_msg"]
                runs[name].append((result["rps"], cpu_ms))
                print(f"pair {i + 1} {name}: {result['rps']:,.0f} msg/s, {cpu_ms:.3f} ms CPU per message", flush=True)
        wins = sum(a[0] > b[0] for a, b in zip(runs["A"], runs["B"], strict=True))
        for name, rev in (("A", args.a), ("B", args.b)):
            won = wins if name == "A" else args.runs - wins
            print(f"{name} ({rev}): won {won} of {args.runs} pairs; median "
                  f"{statistics.median(r[0] for r in runs[name]):,.0f} msg/s, "
                  f"{statistics.median(r[1] for r in runs[name]):.3f} ms CPU per message")
        return 0
    finally:
        stack.close()


if __name__ == "__main__":
    sys.exit(main())
