"""Real servers for the tests: redis-server and PostgreSQL on free loopback ports, in temp directories."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import redis
from werkzeug.serving import make_server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server process that a test may stop and start again on the same port (an outage)."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if not self.binary:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="hub-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class PostgresServer:
    """A private PostgreSQL cluster (initdb + pg_ctl) on a free port, trust auth on loopback.

    Tests run it with fsync off (speed); benchmarks keep fsync on (realism).
    """

    def __init__(self, fsync: bool = False) -> None:
        self.fsync = fsync
        self.started = False
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not candidates:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.bin = Path(candidates[-1]).parent
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="hub-pg-")
        self.data = os.path.join(self.dir, "data")
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.dir, "postgres")
            os.chmod(self.dir, 0o755)  # noqa: S103 - the postgres user must reach its data dir
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", self.data, "-A", "trust", "-U", "hub", "-E", "UTF8",
                  "--locale=C.UTF-8")
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200"
        options += "" if self.fsync else " -c fsync=off"
        self._run(str(self.bin / "pg_ctl"), "-D", self.data, "-o", options, "-l",
                  os.path.join(self.dir, "log"), "-w", "start")
        self.started = True

    def postmaster_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(Path(self.data, "postmaster.pid").read_text().split()[0])
        return None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://hub@127.0.0.1:{self.port}/{database}"

    def close(self) -> None:
        if self.started:
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run(str(self.bin / "pg_ctl"), "-D", self.data, "-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


class LiveServer:
    """A WSGI app served over real HTTP on a loopback port, in a thread."""

    def __init__(self, app: Any) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()


def worker_env(config: dict[str, Any], **settings: Any) -> dict[str, str]:
    """The environment of a `hub` process configured like a test's app (`config`, then `settings`)."""
    chosen = {**config, **settings}
    return {**os.environ, **{f"HUB_{k.upper()}": str(v) for k, v in chosen.items() if k != "testing"}}


def stop_processes(processes: list[subprocess.Popen[bytes]], seconds: float = 15) -> None:
    """Ask every process to stop, then wait for each; one that does not stop in time is killed."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
