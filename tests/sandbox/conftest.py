"""Fixtures: the sandbox on a real loopback port, wechatpy clients pointed at it, and a tiny hub-like
receiver that verifies what the FanSimulator sends with wechatpy's own code."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask, request
from wechatpy import WeChatClient, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature
from werkzeug.serving import BaseWSGIServer, make_server

from hub.sandbox.wechat import SandboxState, make_sandbox_server

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TOKEN = "hub-token"


@dataclass
class Running:
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def run(app: Flask) -> Running:
    return start(make_server("127.0.0.1", 0, app, threaded=True))


def start(server: BaseWSGIServer) -> Running:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return Running(server, thread)


@dataclass
class Sandbox:
    url: str
    state: SandboxState

    def client(self, appid: str, secret: str, **kwargs: Any) -> WeChatClient:
        return sandbox_client(self.url, appid, secret, **kwargs)


def sandbox_client(base: str, appid: str, secret: str, **kwargs: Any) -> WeChatClient:
    """wechatpy's client with its API base pointed at the sandbox (fetch_access_token hard-codes its URL)."""

    class SandboxClient(WeChatClient):
        API_BASE_URL = f"{base}/cgi-bin/"

        def fetch_access_token(self) -> dict[str, Any]:
            return self._fetch_access_token(
                url=f"{base}/cgi-bin/token",
                params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
            )

    return SandboxClient(appid, secret, **kwargs)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    state = SandboxState()
    running = start(make_sandbox_server(state=state))
    try:
        yield Sandbox(running.url, state)
    finally:
        running.stop()


@pytest.fixture
def app_a(sandbox: Sandbox) -> WeChatClient:
    sandbox.state.register_app("wx_a", "secret_a")
    return sandbox.client("wx_a", "secret_a")


def echo(msg: Any) -> str:
    # wechatpy puts text in CDATA without splitting "]]>": do it here so any text round-trips.
    content = f"echo: {msg.content}".replace("]]>", "]]]]><![CDATA[>")
    return TextReply(content=content, message=msg).render()


@dataclass
class Receiver:
    """A minimal hub webhook: checks signatures and decrypts with wechatpy, records what it got and
    answers with whatever `respond` returns for the parsed message (a wechatpy reply renders to XML)."""

    token: str
    appid: str
    aes_key: str | None
    url: str = ""
    received: list[Any] = field(default_factory=list)
    raw_bodies: list[bytes] = field(default_factory=list)
    queries: list[dict[str, str]] = field(default_factory=list)
    respond: Callable[[Any], str] = lambda msg: echo(msg)
    reply_crypto: WeChatCrypto | None = None  # overrides the crypto used to encrypt replies
    delays: list[float] = field(default_factory=list)  # sleep per request, consumed in order

    def app(self) -> Flask:
        app = Flask("receiver")

        @app.post("/webhook")
        def webhook() -> Any:
            args = request.args.to_dict()
            self.queries.append(args)
            self.raw_bodies.append(request.get_data())
            delay = self.delays.pop(0) if self.delays else 0.0
            check_signature(self.token, args["signature"], args["timestamp"], args["nonce"])
            crypto = WeChatCrypto(self.token, self.aes_key, self.appid) if self.aes_key else None
            if args.get("encrypt_type") == "aes":
                assert crypto is not None
                xml = crypto.decrypt_message(
                    request.get_data(), args["msg_signature"], args["timestamp"], args["nonce"]
                )
            else:
                xml = request.get_data(as_text=True)
            msg = parse_message(xml)
            self.received.append(msg)
            time.sleep(delay)
            reply = self.respond(msg)
            if reply in ("", "success") or args.get("encrypt_type") != "aes":
                return reply
            out = self.reply_crypto or crypto
            assert out is not None
            return out.encrypt_message(reply, args["nonce"], args["timestamp"])

        return app


@pytest.fixture
def receiver_factory() -> Iterator[Callable[..., Receiver]]:
    started: list[Running] = []

    def start_receiver(aes_key: str | None = None, appid: str = "wx_hub", token: str = TOKEN) -> Receiver:
        receiver = Receiver(token, appid, aes_key)
        running = run(receiver.app())
        started.append(running)
        receiver.url = f"{running.url}/webhook"
        return receiver

    yield start_receiver
    for running in started:
        running.stop()
