"""A hub run as users run it, for end-to-end tests: `hub sandbox wechat`, `hub serve` and `hub worker` as child
processes on a fresh instance (a SQLite file under a temp directory and a redis-server of the test's own),
configured only through HUB_* variables and set up with `hub` commands; fans write through the WeChat emulation's
HTTP API (tests.support.wechat_setup.WiredAccount)."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import requests

from tests.support.servers import free_port, stop_processes
from tests.support.wechat_setup import WiredAccount

T = TypeVar("T")
LOG_TAIL = 4000  # characters of each process's log printed when the hub is stopped


class HubProcesses:
    """The hub's processes on one instance directory; `hub(...)` runs a command against the same instance."""

    def __init__(self, root: Path, redis_url: str, *, web_workers: int = 2) -> None:
        self.root = root
        self.web_port, self.sandbox_port = free_port(), free_port()
        self.web_workers = web_workers
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HUB_")},
            "HUB_INSTANCE_PATH": str(root / "instance"),
            "HUB_DATABASE_URL": f"sqlite:///{root / 'hub.db'}",
            "HUB_REDIS_URL": redis_url,
            "HUB_SECRET_KEY": secrets.token_hex(16),
            "HUB_LOG_FORMAT": "text",
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.secrets: dict[str, str] = {}  # app id -> app secret, for the emulation

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    def hub(self, *args: str, timeout: float = 120) -> str:
        """Run `hub ARGS` on this instance; its standard output (the command must succeed)."""
        done = subprocess.run([sys.executable, "-m", "hub", *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        assert done.returncode == 0, f"hub {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}"
        return done.stdout

    def _spawn(self, name: str, *args: str) -> None:
        log = (self.root / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen([sys.executable, "-m", "hub", *args], env=self.env, stdout=log,
                                                stderr=subprocess.STDOUT)
        log.close()

    def start(self) -> None:
        """Start the WeChat emulation, the web (gunicorn, `web_workers` processes) and a worker."""
        self._spawn("sandbox", "sandbox", "wechat", "--port", str(self.sandbox_port))
        self._spawn("web", "serve", "--port", str(self.web_port), "--workers", str(self.web_workers))
        self._spawn("worker", "worker")

    def wait_ready(self, seconds: float = 90) -> None:
        """Until the web answers /readyz, the emulation answers, and an RQ worker has registered."""
        import redis
        from rq import Worker

        connection = redis.Redis.from_url(self.env["HUB_REDIS_URL"])
        self.wait(lambda: _answers(f"{self.url}/readyz"), seconds, "the web process")
        self.wait(lambda: _answers(f"{self.sandbox_url}/sandbox/apps"), seconds, "the WeChat emulation")
        self.wait(lambda: Worker.count(connection=connection) > 0, seconds, "the worker")

    def wait(self, predicate: Callable[[], T], seconds: float, what: str, every: float = 0.1) -> T:
        """Poll `predicate` until it is truthy (its value); fail when a process died or time ran out."""
        deadline = time.monotonic() + seconds
        while True:
            value = predicate()
            if value:
                return value
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise AssertionError(f"{what}: `hub {name}` exited with {process.returncode}\n{self.log(name)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {seconds} s")
            time.sleep(every)

    def add_wechat_account(self, key: str = "brand", name: str = "") -> WiredAccount:
        """`hub account add wechat` (safe mode) with its API pointed at the emulation (`register` tells the
        emulation about it once it runs)."""
        app_id, secret, token = f"wx{secrets.token_hex(8)}", secrets.token_hex(16), secrets.token_hex(8)
        aes_key = base64.b64encode(secrets.token_bytes(32)).decode()[:43]
        self.hub("account", "add", "wechat", "--key", key, "--token", token, "--app-id", app_id, "--app-secret",
                 secret, "--aes-key", aes_key, "--api-base", self.sandbox_url, *(("--name", name) if name else ()))
        self.secrets[app_id] = secret
        return WiredAccount(key, app_id, token, aes_key, self.sandbox_url, self.url)

    def register(self, account: WiredAccount) -> None:
        """Tell the running emulation about the account's app and where its webhook is (POST /sandbox/apps)."""
        response = requests.post(f"{self.sandbox_url}/sandbox/apps", timeout=10, json={
            "appid": account.app_id, "secret": self.secrets[account.app_id], "token": account.token,
            "aes_key": account.aes_key, "webhook_url": account.webhook})
        assert response.status_code == 201, response.text

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-LOG_TAIL:] if path.exists() else ""

    def close(self) -> None:
        stop_processes(list(self.processes.values()))
        for name, process in self.processes.items():
            print(f"---- hub {name} (exit {process.returncode}) ----\n{self.log(name)}")


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False

