"""`hub serve` is not held hostage by slow clients (issue 17, item 5).

The real server (`python -m hub serve`: gunicorn, 2 workers x 4 threads, the hub's own options) on a free
port, SQLite + the tests' redis-server. Slow clients — connections that send nothing, that trickle their
headers, that send their headers and trickle the body — must not keep valid WeChat deliveries waiting: a
request reaches a thread only once it has fully arrived, and one that has not within the read deadline is
closed with a 408.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from hub.cli.http_worker import RequestFraming
from hub.core.db import session_scope
from hub.core.models import Account
from tests.support.servers import free_port

TOKEN = "slow-token"
READ_TIMEOUT = 3  # seconds; `hub serve --read-timeout`


@pytest.fixture(scope="module")
def hub_serve(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, redis_server: Any) -> Iterator[int]:
    tmp = tmp_path_factory.mktemp("slow")
    database = tmp / "hub.core.db"
    shutil.copy(sqlite_template, database)
    engine = create_engine(f"sqlite:///{database}")
    with session_scope(engine) as session:
        session.add(Account(key="slow", channel="wechat", token=TOKEN, app_id="wxslow", app_secret="s"))
    engine.dispose()
    port = free_port()
    env = {**os.environ, "HUB_INSTANCE_PATH": str(tmp / "instance"), "HUB_DATABASE_URL": f"sqlite:///{database}",
           "HUB_REDIS_URL": redis_server.url, "HUB_SECRET_KEY": "test", "HUB_LOG_LEVEL": "WARNING"}
    log = tmp / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "hub", "serve", "--port", str(port),
                                 "--read-timeout", str(READ_TIMEOUT)],
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_up(port, proc, log)
        yield port
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(5)


def _wait_up(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"hub serve did not come up:\n{log.read_text()[-3000:]}")


def _path() -> str:
    timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**9))
    signature = hashlib.sha1("".join(sorted((TOKEN, timestamp, nonce))).encode()).hexdigest()  # noqa: S324
    return f"/webhooks/wechat/slow?signature={signature}&timestamp={timestamp}&nonce={nonce}"


def _body(n: int) -> bytes:
    return (f"<xml><ToUserName><![CDATA[gh_slow]]></ToUserName><FromUserName><![CDATA[o-slow-{n}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[hello {n}]]></Content><MsgId>{7_000_000 + n}{secrets.randbelow(10**6):06d}</MsgId>"
            "</xml>").encode()


def _head(port: int, body_length: int, extra: str = "") -> bytes:
    return (f"POST {_path()} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {body_length}\r\n{extra}\r\n").encode()


def _deliver(port: int, n: int) -> tuple[int | None, float]:
    started = time.monotonic()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("POST", _path(), _body(n), {"Content-Type": "text/xml"})
        status: int | None = conn.getresponse().status
    except OSError:
        status = None
    return status, time.monotonic() - started


class Trickler:
    """Slow connections: idle ones, ones trickling their headers, ones trickling the body after the headers."""

    def __init__(self, port: int, idle: int = 4, slow_headers: int = 4, slow_bodies: int = 12) -> None:
        self.stop = threading.Event()
        self.pending: list[tuple[socket.socket, bytes]] = []
        for i in range(idle + slow_headers + slow_bodies):
            sock = socket.create_connection(("127.0.0.1", port))
            body = _body(1000 + i)
            if i < idle:
                rest = b""
            elif i < idle + slow_headers:
                rest = _head(port, len(body)) + body
            else:
                sock.sendall(_head(port, len(body)) + body[:10])
                rest = body[10:]
            self.pending.append((sock, rest))
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.2):
            for i, (sock, rest) in enumerate(self.pending):
                if rest:
                    with contextlib.suppress(OSError):
                        sock.send(rest[:1])
                    self.pending[i] = (sock, rest[1:])

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for sock, _ in self.pending:
            sock.close()


def test_valid_deliveries_are_answered_while_slow_clients_hold_connections(hub_serve: int) -> None:
    slow = Trickler(hub_serve)
    try:
        time.sleep(0.5)  # every slow connection accepted and trickling
        started = time.monotonic()
        with ThreadPoolExecutor(20) as pool:
            results = list(pool.map(lambda n: _deliver(hub_serve, n), range(20)))
        elapsed = time.monotonic() - started
    finally:
        slow.close()
    answered = [status for status, took in results if status == 200 and took < 5]
    assert len(answered) == 20, f"{20 - len(answered)} of 20 unanswered within 5 s: {results}"
    assert elapsed < 5


def test_a_request_trickled_within_the_deadline_is_served(hub_serve: int) -> None:
    body = _body(1)
    with socket.create_connection(("127.0.0.1", hub_serve), timeout=10) as sock:
        request = _head(hub_serve, len(body)) + body
        for i in range(0, len(request), len(request) // 8 + 1):
            sock.sendall(request[i:i + len(request) // 8 + 1])
            time.sleep(0.1)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")


def test_a_request_not_complete_within_the_deadline_gets_408(hub_serve: int) -> None:
    body = _body(2)
    with socket.create_connection(("127.0.0.1", hub_serve), timeout=READ_TIMEOUT + 5) as sock:
        sock.sendall(_head(hub_serve, len(body)) + body[:20])
        started = time.monotonic()
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert READ_TIMEOUT - 0.5 < time.monotonic() - started < READ_TIMEOUT + 2.5


def test_an_oversized_webhook_body_is_refused_before_it_is_sent(hub_serve: int) -> None:
    with socket.create_connection(("127.0.0.1", hub_serve), timeout=5) as sock:
        sock.sendall(_head(hub_serve, 10 * 1024 * 1024) + b"<xml>" + b"x" * 100_000)
        assert sock.recv(4096).startswith(b"HTTP/1.1 413")


def test_chunked_and_keep_alive_requests_are_served(hub_serve: int) -> None:
    body = _body(3)
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:50], body[50:])) + b"0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", hub_serve), timeout=5) as sock:
        head = (f"POST {_path()} HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
                "Transfer-Encoding: chunked\r\n\r\n").encode()
        sock.sendall(head + chunked[:30])
        time.sleep(0.3)
        # the rest of the chunked body, then a second (pipelined) request on the same connection
        sock.sendall(chunked[30:] + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        deadline = time.monotonic() + 5
        while received.count(b"HTTP/1.1 200") < 2 and time.monotonic() < deadline:
            received += sock.recv(4096)
    assert received.count(b"HTTP/1.1 200") == 2, received


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n", None),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "complete"),
        (b"POST /api HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc", None),
        (b"POST /api HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde", "complete"),
        (b"POST /api HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", None),
        (b"POST /api HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "complete"),
        (b"POST /api HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n", None),
        (b"POST /api HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n\r\n", "complete"),
        (b"POST /webhooks/wechat/k HTTP/1.1\r\nContent-Length: 70000\r\n\r\n", 413),
        (b"POST /webhooks/wechat/k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n11170\r\n", 413),
        (b"POST /api HTTP/1.1\r\nContent-Length: nope\r\n\r\n", "complete"),  # the parser answers 400
        (b"X" * 70000, 431),
    ],
)
def test_request_framing(data: bytes, expected: Any) -> None:
    framing = RequestFraming(webhook_body_limit=64 * 1024, body_limit=16 * 1024 * 1024)
    try:
        result = framing.feed(data)
    except RequestFraming.Refused as refused:
        result = refused.status
    assert result == expected
