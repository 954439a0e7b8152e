"""The web processes' gunicorn worker class: gunicorn's gthread with one change, a request reaches a thread
only once it has fully arrived.

Each worker's selector loop reads the request line, headers and body of every connection without blocking
(`RequestFraming` tells when a request is complete), with a total read deadline (`--read-timeout`, plus 1 s
per 100 KiB of a large body: 408 when it passes) and the body limits (the webhooks' 64 KiB, the console's
16 MiB: 413 as soon as a request announces more). Slow or idle clients then cost a socket and a buffer, never
one of the few threads, so they cannot keep WeChat's deliveries waiting.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import selectors
import socket
import time
from functools import partial
from typing import Any

from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import ThreadWorker

log = logging.getLogger("hub.serve")
READ_TIMEOUT_SECONDS = 10.0  # headers and body of one request; WeChat itself gives up after 5 s
WEBHOOK_PREFIX = b"/webhooks/"
BODY_LIMIT = 16 * 1024 * 1024  # the Flask app's MAX_CONTENT_LENGTH (KB uploads)
MAX_HEADER_BYTES = 64 * 1024
SLOW_UPLOAD_BYTES_PER_SECOND = 100 * 1024  # a large body may take this long on top of the read timeout


class RequestFraming:
    """Where the first HTTP/1.x request in a growing buffer ends: `feed(data)` returns "complete" once the
    request line, headers and body have all arrived, None while more is needed, and raises `Refused` (413,
    431) for a request that must not be read further. A request it cannot frame (a malformed length, an
    unknown transfer coding) counts as complete: gunicorn's parser then answers it with a 400."""

    class Refused(Exception):
        def __init__(self, status: int, reason: str) -> None:
            super().__init__(reason)
            self.status, self.reason = status, reason

    def __init__(self, webhook_body_limit: int, body_limit: int = BODY_LIMIT) -> None:
        self.webhook_body_limit, self.body_limit = webhook_body_limit, body_limit
        self.body_start = -1  # where the body starts once the headers are in
        self.content_length: int | None = None
        self.chunked = False
        self.limit = body_limit
        self.expects_continue = False
        self._chunk_pos = 0  # the next chunk's size line, and the body bytes before it
        self._chunk_total = 0

    def feed(self, data: bytes | bytearray) -> str | None:
        if self.body_start < 0:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                if len(data) > MAX_HEADER_BYTES:
                    raise self.Refused(431, "request headers too large")
                return None
            if not self._headers(bytes(data[:end]).lstrip(b"\r\n")):
                return "complete"
            self.body_start = self._chunk_pos = end + 4
        if self.chunked:
            return self._chunks(data)
        return "complete" if len(data) - self.body_start >= (self.content_length or 0) else None

    def _headers(self, head: bytes) -> bool:
        """Read the framing headers; False when the request cannot be framed here (the parser will refuse it)."""
        lines = head.split(b"\r\n")
        target = lines[0].split(b" ")[1] if lines[0].count(b" ") >= 2 else b""
        self.limit = self.webhook_body_limit if target.startswith(WEBHOOK_PREFIX) else self.body_limit
        codings = lengths = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                lengths += 1
                if not value.isdigit():
                    return False
                self.content_length = int(value)
            elif name == b"transfer-encoding":
                codings += 1
                self.chunked = value.rsplit(b",", 1)[-1].strip() == b"chunked"
            elif name == b"expect":
                self.expects_continue = value == b"100-continue" and lines[0].endswith(b"HTTP/1.1")
        if lengths > 1 or (codings and (lengths or not self.chunked)) or codings > 1:
            return False
        if (self.content_length or 0) > self.limit:
            raise self.Refused(413, f"request body over {self.limit} bytes")
        return True

    def _chunks(self, data: bytes | bytearray) -> str | None:
        while True:
            line_end = data.find(b"\r\n", self._chunk_pos)
            if line_end < 0:
                return None
            size_text = bytes(data[self._chunk_pos:line_end]).split(b";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                return "complete"
            if size == 0:  # the last chunk, then trailer fields up to an empty line
                if data[line_end + 2:line_end + 4] == b"\r\n" or data.find(b"\r\n\r\n", line_end) >= 0:
                    return "complete"
                return None
            self._chunk_total += size
            if self._chunk_total > self.limit:
                raise self.Refused(413, f"request body over {self.limit} bytes")
            if len(data) < line_end + 2 + size + 2:
                return None
            self._chunk_pos = line_end + 2 + size + 2

    def deadline_extension(self) -> float:
        body = self.content_length or self._chunk_total
        return max(0, body - 64 * 1024) / SLOW_UPLOAD_BYTES_PER_SECOND


class _Arriving:
    """A connection whose next request is still arriving."""

    __slots__ = ("conn", "data", "deadline", "framing", "continued", "started", "closing")

    def __init__(self, conn: Any, data: bytes, framing: RequestFraming, timeout: float) -> None:
        self.conn, self.data, self.framing, self.continued = conn, bytearray(data), framing, False
        self.closing = False  # refused: what the client still sends is read and dropped until it closes
        self.started = time.monotonic()
        self.deadline = self.started + timeout


class BufferingThreadWorker(ThreadWorker):
    """gthread whose threads only ever get requests that have fully arrived (see the module's docstring).

    Every path that hands a connection to the thread pool goes through `enqueue_req` (a new connection, a
    kept-alive one that became readable, one with a pipelined request already read ahead), so that is where
    the request is read first. TLS (or HTTP/2 prior knowledge), which this worker does not read itself,
    falls back to gthread's behaviour: put a proxy that terminates TLS in front.
    """

    read_timeout = READ_TIMEOUT_SECONDS
    webhook_body_limit = 64 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arriving: dict[Any, _Arriving] = {}

    def enqueue_req(self, conn: Any) -> None:
        if getattr(conn, "hub_arrived", False) or self.cfg.is_ssl \
                or negotiation.prior_knowledge_allowed(self.cfg, conn.client):
            conn.hub_arrived = False
            super().enqueue_req(conn)
            return
        ahead = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        conn.sock.setblocking(False)
        arriving = _Arriving(conn, ahead, RequestFraming(self.webhook_body_limit), self.read_timeout)
        if ahead and self._framed(arriving):
            return
        self.arriving[conn] = arriving
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, arriving))

    def _on_readable(self, arriving: _Arriving, _sock: Any) -> None:
        try:
            data = arriving.conn.sock.recv(256 * 1024)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self._forget(arriving)
            self._close(arriving.conn)
        elif not arriving.closing:
            arriving.data += data
            self._framed(arriving)

    def _framed(self, arriving: _Arriving) -> bool:
        """Hand the request to a thread once it is complete, refuse it, or wait for more (False)."""
        framing = arriving.framing
        try:
            complete = framing.feed(arriving.data)
        except RequestFraming.Refused as refused:
            self._forget(arriving)
            self._refuse(arriving, refused.status, refused.reason)
            return True
        if not complete:
            if framing.body_start >= 0 and not arriving.continued:
                arriving.continued = True
                arriving.deadline += framing.deadline_extension()
                if framing.expects_continue:
                    self._send_quietly(arriving.conn, b"HTTP/1.1 100 Continue\r\n\r\n")
            return False
        self._forget(arriving)
        conn = arriving.conn
        conn.sock.setblocking(True)
        if conn.parser is None:
            conn.init()  # plain HTTP/1.x: only creates the parser
        conn.parser.unreader.unread(bytes(arriving.data))
        conn.data_ready = conn.hub_arrived = True
        super().enqueue_req(conn)
        return True

    def _refuse(self, arriving: _Arriving, status: int, reason: str) -> None:
        phrase = {408: "Request Timeout", 413: "Content Too Large", 431: "Request Header Fields Too Large"}[status]
        body = f"{reason}\n".encode()
        self._send_quietly(arriving.conn, f"HTTP/1.1 {status} {phrase}\r\nContent-Type: text/plain\r\n"
                           f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        log.warning("refused a request from %s with %d: %s (%d bytes in %.1f s)", arriving.conn.client[0]
                    if isinstance(arriving.conn.client, tuple) else arriving.conn.client, status, reason,
                    len(arriving.data), time.monotonic() - arriving.started)
        # Close after the client does (at most 2 s): closing with its bytes unread would reset the connection
        # and could destroy the answer before the client reads it.
        with contextlib.suppress(OSError):
            arriving.conn.sock.shutdown(socket.SHUT_WR)
        arriving.closing, arriving.data, arriving.deadline = True, bytearray(), time.monotonic() + 2
        self.arriving[arriving.conn] = arriving
        self.poller.register(arriving.conn.sock, selectors.EVENT_READ, partial(self._on_readable, arriving))

    @staticmethod
    def _send_quietly(conn: Any, data: bytes) -> None:
        try:
            conn.sock.send(data)  # a few bytes into an empty send buffer; a client that is gone does not matter
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                log.debug("could not answer a refused request: %s", exc)

    def _forget(self, arriving: _Arriving) -> None:
        self.arriving.pop(arriving.conn, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(arriving.conn.sock)

    def _close(self, conn: Any) -> None:
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        """Called on every turn of the loop: also refuse the requests that missed their read deadline (408).
        A connection that sent nothing at all is just closed, at once when the worker stops."""
        super().murder_pending()
        now = time.monotonic()
        for arriving in [a for a in self.arriving.values()
                         if a.deadline <= now or not (self.alive or a.data or a.closing)]:
            self._forget(arriving)
            if arriving.data.strip() and not arriving.closing:
                self._refuse(arriving, 408, f"request not complete within {arriving.deadline - arriving.started:.0f} s")
            else:
                self._close(arriving.conn)


def hub_worker_class(read_timeout: float = READ_TIMEOUT_SECONDS, webhook_body_limit: int = 64 * 1024) -> type:
    """The worker class with these limits (set on a subclass: gunicorn has no setting to carry them)."""
    return type("HubThreadWorker", (BufferingThreadWorker,),
                {"read_timeout": read_timeout, "webhook_body_limit": webhook_body_limit})
