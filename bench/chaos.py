"""Chaos benchmark (a benchmark, not a test): the hub under load while its parts fail, one fault at a time.

    .venv/bin/python bench/chaos.py [--scenario NAME] [--rate 5] [--source DIR] [--json]

Each scenario starts a fresh hub as users do (bench/chaos_stack.py: `hub sandbox wechat`, `hub serve`,
`hub worker`, an account and a default reply rule through the CLI, HUB_WECHAT_API_BASE at the emulator),
puts fans' messages through the WeChat emulator at --rate msg/s, and after --before seconds:

  web-kill        SIGKILLs one gunicorn worker (the arbiter starts another)
  embedded-redis  SIGKILLs the embedded Redis and removes its database file, so it comes back empty,
                  started again by the hub itself (or, after --redis-grace s, by the benchmark)
  external-redis  SIGKILLs a redis-server of its own (no persistence) and starts it again 5 s later, empty
  work-horse      SIGKILLs RQ work horses in the middle of their jobs (one a second, --horse-kills times)
  wechat-api      makes the emulated WeChat API fail every customer-service send for --api-outage seconds
                  (errcode -1, "system busy": fault injection, hub/sandbox/wechat/faults.py)
  slow-clients    keeps 12 connections trickling their bodies, 4 trickling their headers and 4 idle
                  (reconnecting when the hub closes them) for --slow-seconds

The load goes on for --after seconds after the recovery (the process back, Redis answering again, the API
working, the slow clients gone), then stops. Printed per scenario: messages sent, acknowledged (a 200 from
the hub, redelivered with the same MsgId until then, as WeChat retries), stored, processed, replies sent
(delivered by the WeChat API), duplicates (a MsgId stored twice, a reply delivered more often than the hub
recorded it), deliveries the hub was late for (no answer within WeChat's 5 s), and the seconds from the
recovery until everything acknowledged before it was processed and its reply delivered. PASS: nothing
lost, nothing duplicated, no late deliveries (slow-clients), drained within 15 s of the recovery.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support
from chaos_stack import HubStack, Load, count, drained, log, wait_drained  # noqa: E402

TARGET_RECOVERY_S = 15.0


# -- the faults: each returns the moment (monotonic) the hub's surroundings were whole again, or None ------------


def web_kill(stack: HubStack, args: argparse.Namespace) -> tuple[float | None, str]:
    workers = stack.gunicorn_workers()
    if not workers:
        return None, "no gunicorn worker found"
    victim = workers[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = stack.gunicorn_workers()
        if victim not in now and len(now) >= len(workers):
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"http://127.0.0.1:{stack.hub_port}/healthz", timeout=2).ok:
                    return time.monotonic(), f"worker {victim} killed, {len(now)} workers again"
        time.sleep(0.1)
    return None, f"worker {victim} killed, not replaced within 60 s"


def embedded_redis(stack: HubStack, args: argparse.Namespace) -> tuple[float | None, str]:
    pid = stack.kill_embedded_redis(empty=True)
    killed = time.monotonic()
    time.sleep(0.5)
    by = "the hub"
    while not stack.embedded_redis_answers():
        if by == "the hub" and time.monotonic() > killed + args.redis_grace:
            by = f"the benchmark (the hub had not in {args.redis_grace:.0f} s)"
            stack.start_embedded_redis()
        if time.monotonic() > killed + args.redis_grace + 30:
            return None, f"redis-server {pid} killed, not running again 30 s after it was started again"
        time.sleep(0.1)
    return time.monotonic(), (f"redis-server {pid} killed, started again (empty) by {by} after "
                              f"{time.monotonic() - killed:.1f} s")


def external_redis(stack: HubStack, args: argparse.Namespace) -> tuple[float | None, str]:
    assert stack.redis is not None and stack.redis.process is not None
    stack.redis.process.send_signal(signal.SIGKILL)
    stack.redis.process.wait(10)
    time.sleep(5)
    stack.redis.start()
    return time.monotonic(), "redis-server killed, started again empty 5 s later"


def work_horse(stack: HubStack, args: argparse.Namespace) -> tuple[float | None, str]:
    killed: list[int] = []
    deadline = time.monotonic() + 10 + args.horse_kills
    while len(killed) < args.horse_kills and time.monotonic() < deadline:
        horses = [pid for pid in stack.work_horses() if pid not in killed]
        if not horses:
            time.sleep(0.02)
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(horses[0], signal.SIGKILL)
            killed.append(horses[0])
        time.sleep(1)
    if not killed:
        return None, "no work horse seen in 10 s"
    return time.monotonic(), f"{len(killed)} work horses killed mid-job"


class _ApiOutage:
    """Keeps a fault on message/custom/send armed (faults count calls, so it is topped up), then disarms it
    by using up what is left."""

    endpoint = "message/custom/send"

    def __init__(self, sandbox_url: str) -> None:
        self.url = sandbox_url

    def _remaining(self) -> int:
        faults = requests.get(f"{self.url}/sandbox/faults", timeout=5).json()
        return sum(f["remaining"] for f in faults if f["endpoint"] == self.endpoint)

    def run(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            if self._remaining() < 30:
                requests.post(f"{self.url}/sandbox/faults", timeout=5, json={
                    "endpoint": self.endpoint, "count": 60, "errcode": -1, "errmsg": "system error (chaos)"})
            time.sleep(0.1)
        with requests.Session() as http:
            while (left := self._remaining()) > 0:
                for _ in range(left):
                    http.post(f"{self.url}/cgi-bin/{self.endpoint}?access_token=chaos", json={}, timeout=5)


def wechat_api(stack: HubStack, args: argparse.Namespace) -> tuple[float | None, str]:
    _ApiOutage(stack.sandbox_url).run(args.api_outage)
    return time.monotonic(), f"every customer-service send failed for {args.api_outage:.0f} s"


class SlowClients:
    """Connections that hold the hub: trickling bodies, trickling headers, idle; reopened when closed."""

    def __init__(self, port: int, bodies: int = 12, headers: int = 4, idle: int = 4) -> None:
        self.port = port
        self.kinds = ["body"] * bodies + ["headers"] * headers + ["idle"] * idle
        self.stop = threading.Event()
        self.reopened = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _open(self, kind: str) -> tuple[socket.socket, bytes]:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        body = b"<xml>" + b"x" * 2000 + b"</xml>"
        head = (f"POST /webhooks/wechat/chaos?signature=0&timestamp={int(time.time())}&nonce=1 HTTP/1.1\r\n"
                f"Host: 127.0.0.1\r\nContent-Type: text/xml\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        if kind == "body":
            sock.sendall(head)
            return sock, body
        return sock, head + body if kind == "headers" else b""

    def _run(self) -> None:
        conns = [self._open(kind) for kind in self.kinds]
        while not self.stop.wait(0.5):
            for i, (sock, rest) in enumerate(conns):
                try:
                    if rest:
                        sock.send(rest[:1])
                        conns[i] = (sock, rest[1:])
                    elif sock.recv(1, socket.MSG_DONTWAIT) == b"":
                        raise ConnectionResetError
                except BlockingIOError:
                    pass
                except OSError:
                    sock.close()
                    self.reopened += 1
                    with contextlib.suppress(OSError):
                        conns[i] = self._open(self.kinds[i])
        for sock, _ in conns:
            sock.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


def slow_clients(stack: HubStack, args: argparse.Namespace) -> tuple[float | None, str]:
    attack = SlowClients(stack.hub_port)
    time.sleep(args.slow_seconds)
    attack.close()
    return time.monotonic(), (f"{len(attack.kinds)} slow connections held for {args.slow_seconds:.0f} s "
                              f"({attack.reopened} reopened after the hub closed them)")


SCENARIOS: dict[str, Callable[[HubStack, argparse.Namespace], tuple[float | None, str]]] = {
    "web-kill": web_kill,
    "embedded-redis": embedded_redis,
    "external-redis": external_redis,
    "work-horse": work_horse,
    "wechat-api": wechat_api,
    "slow-clients": slow_clients,
}


# -- one scenario ------------------------------------------------------------------------------------------------


class BacklogWatch:
    """From the recovery on: when was everything acknowledged before it drained?"""

    def __init__(self, stack: HubStack, load: Load, since: float) -> None:
        self.drained_at: float | None = None
        self.last: Any = None  # the last figures, or why they could not be counted
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(stack, load, since), daemon=True)
        self._thread.start()

    def _run(self, stack: HubStack, load: Load, since: float) -> None:
        while not self._stop.is_set():
            try:
                self.last = count(stack, load, since)
                if drained(self.last):
                    self.drained_at = time.monotonic()
                    return
            except Exception as exc:  # noqa: BLE001 - counted again on the next turn
                self.last = repr(exc)
            self._stop.wait(0.5)

    def wait(self, timeout: float) -> None:
        self._thread.join(timeout)
        self._stop.set()
        self._thread.join()


def run_scenario(name: str, args: argparse.Namespace) -> dict[str, Any]:
    stack = HubStack(name, external_redis=name == "external-redis", source=args.source)
    started = time.monotonic()
    try:
        stack.start()
        load = Load(stack, args.rate)
        time.sleep(args.before)
        log(f"[{name}] fault")
        fault_at = time.monotonic()
        recovered_at, what = SCENARIOS[name](stack, args)
        log(f"[{name}] {what}")
        watch = BacklogWatch(stack, load, recovered_at) if recovered_at else None
        time.sleep(args.after)
        load.stop()
        drain_timeout = args.drain_timeout + (args.api_outage if name == "wechat-api" else 0)
        if watch:
            watch.wait(max(1.0, recovered_at + drain_timeout - time.monotonic()))  # type: ignore[operator]
        _, final = wait_drained(stack, load, None, timeout=args.drain_timeout if watch and watch.drained_at else 10)
        recovery_s = watch.drained_at - recovered_at if watch and watch.drained_at else None  # type: ignore[operator]
        duplicates = final["stored_twice"] + final["sent_twice"]
        late = load.slow
        passed = (final["lost"] == 0 and duplicates == 0 and drained(final) and recovery_s is not None
                  and recovery_s < TARGET_RECOVERY_S and (name != "slow-clients" or late == 0))
        return {"scenario": name, "fault": what, "fault_s": round((recovered_at or time.monotonic()) - fault_at, 1),
                "fault_started_s": round(fault_at - load._start, 1), "late_at_s": load.slow_at[:20],
                **final, "duplicates": duplicates, "late_deliveries": late, "delivery_attempts": load.attempts,
                "recovery_s": None if recovery_s is None else round(recovery_s, 1), "drained": drained(final),
                "pass": passed, "backlog": None if watch is None or watch.drained_at else watch.last,
                "wall_s": round(time.monotonic() - started, 1)}
    except Exception as exc:  # noqa: BLE001 - a scenario that could not run is a FAIL with its reason
        return {"scenario": name, "fault": f"could not run: {exc}", "pass": False,
                "worker_log": stack.log_tail("worker", 1500), "serve_log": stack.log_tail("serve", 1500)}
    finally:
        stack.close()


def print_table(results: list[dict[str, Any]]) -> None:
    columns = [("sent", "sent"), ("acknowledged", "acked"), ("stored", "stored"), ("processed", "processed"),
               ("replies_sent", "replies sent"), ("duplicates", "dups"), ("lost", "lost"),
               ("late_deliveries", "late"), ("recovery_s", "recovery s")]
    print(f"\n{'scenario':<16}" + "".join(f"{title:>13}" for _, title in columns) + "  verdict")
    for r in results:
        cells = "".join(f"{'-' if r.get(key) is None else r[key]!s:>13}" for key, _ in columns)
        print(f"{r['scenario']:<16}{cells}  {'PASS' if r['pass'] else 'FAIL'}")
    print()
    for r in results:
        extra = "" if "replies" not in r else (
            f"; replies recorded {r['replies']}, pending {r['replies_pending']}, failed {r['replies_failed']}; "
            f"messages failed {r['failed']}; stored twice {r['stored_twice']}, delivered twice {r['sent_twice']}; "
            f"{r['wall_s']} s")
        print(f"  {r['scenario']}: {r['fault']}{extra}")
    print(f"\ntargets: 0 lost, 0 duplicated, recovery < {TARGET_RECOVERY_S:.0f} s "
          "(from the recovery until everything acknowledged before it is processed and answered)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), action="append",
                        help="run only this scenario (repeatable); default: all, in order")
    parser.add_argument("--rate", type=float, default=5, help="fans' messages per second")
    parser.add_argument("--before", type=float, default=6, help="seconds of load before the fault")
    parser.add_argument("--after", type=float, default=5, help="seconds of load after the recovery")
    parser.add_argument("--drain-timeout", type=float, default=45, help="seconds to wait for a drained queue")
    parser.add_argument("--api-outage", type=float, default=60, help="seconds the WeChat API fails")
    parser.add_argument("--slow-seconds", type=float, default=20, help="seconds the slow clients hold on")
    parser.add_argument("--redis-grace", type=float, default=10,
                        help="seconds the hub has to start its embedded Redis again before the benchmark does")
    parser.add_argument("--horse-kills", type=int, default=5, help="work horses to kill")
    parser.add_argument("--source", help="import the hub from this directory (another checkout) instead")
    parser.add_argument("--json", action="store_true", help="print one JSON array instead of the table")
    return parser.parse_args()


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, _interrupt)
    names = args.scenario or list(SCENARIOS)
    results = []
    try:
        for name in names:
            log(f"scenario {name}")
            results.append(run_scenario(name, args))
            log(f"[{name}] {'PASS' if results[-1]['pass'] else 'FAIL'}")
    except KeyboardInterrupt:
        log("interrupted")
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        print_table(results)
    return 0 if results and all(r["pass"] for r in results) else 2


if __name__ == "__main__":
    sys.exit(main())
