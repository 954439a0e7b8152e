"""The load: closed loop with wrk (bench/webhook_load.lua), redelivery of what wrk cut off, the open loop at a
fixed rate (no coordinated omission) and the duplicate burst (one MsgId three times)."""

from __future__ import annotations

import argparse
import http.client
import json
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .processes import BENCH, cpu_seconds
from .report import percentile
from .wire import WEBHOOK, WrkQueries, keyword, message_xml, reply_content, webhook_path, wrk_message


def is_2xx(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


def run_threads(target: Callable[[], None], count: int, daemon: bool = False) -> None:
    """`count` threads of `target`, started together; returns when all have finished."""
    threads = [threading.Thread(target=target, daemon=daemon) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def post(conn: http.client.HTTPConnection, path: str, body: bytes) -> tuple[int, bytes]:
    conn.request("POST", path, body, {"Content-Type": "text/xml; charset=utf-8"})
    resp = conn.getresponse()
    return resp.status, resp.read()


def deliver(port: int, path: str, body: bytes, attempts: int = 3) -> tuple[int | None, bytes]:
    """One delivery on a fresh connection, retried on errors and 5xx (as WeChat does)."""
    status: int | None = None
    data = b""
    for _ in range(attempts):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            status, data = post(conn, path, body)
        except OSError:
            status = None
        finally:
            conn.close()
        if status is not None and status < 500:
            break
        time.sleep(0.2)
    return status, data


# -- closed loop --------------------------------------------------------------------------------------------

DEFAULT_WRK_MAX_RATE = 8000.0  # msg/s a wrk run's queries file is sized for (the bare app: ~4,500 on 2 CPUs)


def run_wrk(port: int, prefix: str, duration: float, args: argparse.Namespace) -> dict[str, Any]:
    """wrk for `duration` s (args: wrk_threads, connections, reply_every, wrk_max_rate); its counts, latencies and
    msg/s. Each request goes under its own signed query string, from a file signed just before wrk starts
    (wire.WrkQueries); result["queries"] describes them, so that any request can be rebuilt (wire.wrk_message)."""
    max_rate = getattr(args, "wrk_max_rate", None) or DEFAULT_WRK_MAX_RATE
    with tempfile.TemporaryDirectory(prefix="hub-wrk-") as tmp:
        queries = WrkQueries.for_run(args.wrk_threads, duration, max_rate, args.connections)
        queries_file = queries.write(Path(tmp) / "queries.txt")
        cmd = ["wrk", f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{int(duration)}s", "--latency",
               "--timeout", "10s", "-s", str(BENCH / "webhook_load.lua"), f"http://127.0.0.1:{port}",
               "--", prefix, WEBHOOK, str(queries_file), str(queries.per_thread), str(queries.timestamp),
               str(args.reply_every)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    match = re.search(r"^WRK_JSON (\{.*\})$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}\n{done.stdout}")
    result = json.loads(match.group(1))
    if result["exhausted"]:
        raise RuntimeError(f"wrk ran out of signed query strings ({queries.per_thread} per thread, sized for "
                           f"{max_rate:.0f} msg/s): raise --wrk-max-rate")
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["cut_off"] = result["sent"] - result["ok"] - result["non2xx"]
    result["errors_total"] = sum(result["errors"].values())
    result["prefix"] = prefix
    result["queries"] = queries.describe()
    return result


def measured_wrk(port: int, prefix: str, duration: float, args: argparse.Namespace,
                 pids: Callable[[], list[int]]) -> dict[str, Any]:
    """run_wrk, and the CPU time the processes `pids()` spent per message sent (server_cpu_ms_per_msg); the
    signing of the queries file falls between the readings, but in this process, not among `pids()`."""
    cpu = cpu_seconds(pids())
    result = run_wrk(port, prefix, duration, args)
    result["server_cpu_ms_per_msg"] = (cpu_seconds(pids()) - cpu) * 1000 / result["sent"]
    return result


def redeliver_tail(port: int, wrk: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Resend each wrk thread's last requests (a superset of those wrk cut off when its time was up), each under
    the query string wrk sent it with and byte for byte the same body: a retry, as WeChat's, not a replay.

    Also the first message of wrk's first thread: wrk calls request() once on that thread's Lua state to
    verify the script before the run and never sends what it returns.
    """
    per_thread = -(-args.connections // args.wrk_threads) + 1
    sent = ok = 0
    for thread_id, count in wrk["threads"]:
        numbers = set(range(max(1, count - per_thread + 1), count + 1)) | ({1} if thread_id == 1 else set())
        for n in sorted(numbers):
            _, path, body = wrk_message(wrk, thread_id, n, args.reply_every)
            status, _ = deliver(port, path, body)
            sent += 1
            ok += is_2xx(status)
    return {"sent": sent, "ok": ok}


# -- open loop ----------------------------------------------------------------------------------------------


def open_loop(port: int, prefix: str, rate: float, duration: float, senders: int, reply_every: int,
              texts: list[str] | None = None) -> dict[str, Any]:
    """Send `rate` msg/s on a fixed schedule; latency counts from the scheduled send time. Each message is
    signed as it is sent (its own timestamp and nonce), and a redelivery reuses its query string. `texts`:
    what fans write between the keywords (fan questions for the FAQ bot), cycled; else numbered messages."""
    total = int(rate * duration)
    paths: list[str | None] = [None] * total  # signed at the first send
    results: list[tuple[float, int | None, bool] | None] = [None] * total
    bodies = []
    for i in range(total):
        msgid = f"{prefix}{i:011d}"
        other = texts[i % len(texts)] if texts else f"open-loop message {i}"
        text = keyword(i // reply_every) if i % reply_every == 0 else other
        bodies.append((msgid, message_xml(f"o-bench-ol-{i % 500:03d}", text, msgid)))
    lock = threading.Lock()
    cursor = [0]
    start = time.perf_counter() + 0.5

    def sender() -> None:
        conn: http.client.HTTPConnection | None = None
        while True:
            with lock:
                i = cursor[0]
                cursor[0] += 1
            if i >= total:
                break
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            status: int | None = None
            data = b""
            paths[i] = path = webhook_path()
            for attempt in range(2):
                reused = conn is not None
                try:
                    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    status, data = post(conn, path, bodies[i][1])
                    break
                except (OSError, http.client.HTTPException):
                    if conn:
                        conn.close()
                    conn = None
                    if not reused or attempt:  # a kept-alive connection the server closed: once more, fresh
                        break
            results[i] = (time.perf_counter() - scheduled, status, data.startswith(b"<xml"))
        if conn:
            conn.close()

    run_threads(sender, senders, daemon=True)
    elapsed = time.perf_counter() - start
    done = [r for r in results if r is not None]
    ok = [r for r in done if is_2xx(r[1])]
    latencies = sorted(r[0] * 1000 for r in done)
    failed = [i for i, r in enumerate(results) if r is None or not is_2xx(r[1])]
    redelivered_ok = 0
    for i in failed:  # WeChat retries what got no answer, under the same query; so do we, so the counts can match
        status, _ = deliver(port, paths[i] or webhook_path(), bodies[i][1])
        redelivered_ok += is_2xx(status)
    return {
        "offered_rate": rate, "duration_s": duration, "sent": total, "ok": len(ok), "errors": total - len(ok),
        "achieved_rate": len(ok) / elapsed, "passive": sum(r[2] for r in ok),
        # passive replies to the messages that are not keywords (the FAQ bot's, when texts are fan questions)
        "passive_other": sum(1 for i, r in enumerate(results) if r and is_2xx(r[1]) and r[2] and i % reply_every),
        "other": sum(1 for i in range(total) if i % reply_every),
        "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1] if latencies else float("nan"),
        "redelivered": len(failed), "redelivered_ok": redelivered_ok,
        "msgids": [msgid for msgid, _ in bodies],
    }


# -- duplicates ---------------------------------------------------------------------------------------------


def duplicate_burst(port: int, prefix: str, count: int) -> dict[str, Any]:
    """`count` MsgIds delivered 3 times each: half one after the other (WeChat's retries), half at once; the
    copies of a message carry the same query string (its own signed timestamp and nonce) and body."""
    statuses: list[int | None] = []
    consistent = [0, 0]  # sequential, concurrent
    msgids = []

    def message(i: int) -> tuple[str, bytes]:
        msgid = f"{prefix}{i:011d}"
        msgids.append(msgid)
        text = keyword(i) if i % 2 == 0 else f"duplicate test {i}"
        return webhook_path(), message_xml(f"o-bench-dup-{i:03d}", text, msgid)

    def tally(replies: list[tuple[int | None, bytes]], kind: int) -> None:
        statuses.extend(s for s, _ in replies)
        consistent[kind] += len({reply_content(data) for _, data in replies}) == 1

    for i in range(count // 2):
        path, body = message(i)
        tally([deliver(port, path, body, attempts=1) for _ in range(3)], 0)
    for i in range(count // 2, count):
        path, body = message(i)
        barrier = threading.Barrier(3)
        replies: list[tuple[int | None, bytes]] = []

        def send(path: str = path, body: bytes = body, barrier: threading.Barrier = barrier,
                 replies: list[tuple[int | None, bytes]] = replies) -> None:
            barrier.wait()
            replies.append(deliver(port, path, body, attempts=1))

        run_threads(send, 3)
        tally(replies, 1)
    return {  # "stored" is counted with the rest, once the hub has stopped
        "msgids": msgids, "distinct": count, "deliveries": len(statuses), "ok": sum(map(is_2xx, statuses)),
        "replies_consistent_sequential": consistent[0], "replies_consistent_concurrent": consistent[1],
        "sequential": count // 2, "concurrent": count - count // 2,
    }
