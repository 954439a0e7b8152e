"""The outbound client against a tiny WeChat API served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from channels.base import AccountConfig, OutboundMessage, PermanentSendError, SendError, TransientSendError
from channels.wechat import WeChatChannel

SECRET = "app-secret-do-not-log"


class DictTokenCache:
    """The TokenCache protocol over a dict, with real per-key threading locks (the hub uses Redis)."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[str, float]] = {}
        self.ttls: dict[str, int] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: str) -> str | None:
        value = self.values.get(key)
        return value[0] if value and value[1] > time.monotonic() else None

    def set(self, key: str, value: str, ttl_seconds: int) -> None:
        self.values[key] = (value, time.monotonic() + ttl_seconds)
        self.ttls[key] = ttl_seconds

    def delete(self, key: str) -> None:
        self.values.pop(key, None)

    @contextmanager
    def lock(self, key: str, timeout_seconds: float) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        if not lock.acquire(timeout=timeout_seconds):
            raise TimeoutError(key)
        try:
            yield
        finally:
            lock.release()


@dataclass
class FakeWeChat:
    """Just enough of api.weixin.qq.com: tokens, custom send, tags, user info; scripted failures."""

    token_fetches: int = 0
    token_delay: float = 0.0
    valid_tokens: set[str] = field(default_factory=set)
    reject_all_tokens: bool = False
    script: list[Any] = field(default_factory=list)  # next answers of message/custom/send
    sent: list[dict[str, Any]] = field(default_factory=list)
    tag_batches: list[tuple[str, int, list[str]]] = field(default_factory=list)
    tags: dict[int, str] = field(default_factory=lambda: {2: "星标组"})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict, start_response: Any) -> Any:
        return self.handle(Request(environ))(environ, start_response)

    def handle(self, req: Request) -> Response:
        path = req.path.removeprefix("/cgi-bin/")
        if path == "token":
            assert req.args["secret"] == SECRET and req.args["grant_type"] == "client_credential"
            time.sleep(self.token_delay)
            with self.lock:
                self.token_fetches += 1
                token = f"TOKEN{self.token_fetches}"
                self.valid_tokens = {token}
            return self.json({"access_token": token, "expires_in": 7200})
        if self.reject_all_tokens or req.args.get("access_token") not in self.valid_tokens:
            return self.json({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"})
        body = json.loads(req.get_data() or b"{}")
        if path == "message/custom/send":
            answer = self.script.pop(0) if self.script else {"errcode": 0, "errmsg": "ok", "msgid": 1001}
            if isinstance(answer, float):  # a delay longer than the client's timeout
                time.sleep(answer)
                answer = {"errcode": 0}
            if isinstance(answer, int):
                return Response("upstream broke", status=answer)
            if answer.get("errcode", 0) == 0:
                self.sent.append(body)
            return self.json(answer)
        if path == "tags/create":
            tag_id = max(self.tags) + 1
            self.tags[tag_id] = body["tag"]["name"]
            return self.json({"tag": {"id": tag_id, "name": body["tag"]["name"]}})
        if path == "tags/get":
            return self.json({"tags": [{"id": i, "name": n, "count": 0} for i, n in self.tags.items()]})
        if path == "tags/delete":
            self.tags.pop(body["tag"]["id"])
            return self.json({"errcode": 0, "errmsg": "ok"})
        if path in ("tags/members/batchtagging", "tags/members/batchuntagging"):
            if len(body["openid_list"]) > 50:
                return self.json({"errcode": 45059, "errmsg": "too many openids"})
            self.tag_batches.append((path.rsplit("/", 1)[1], body["tagid"], body["openid_list"]))
            return self.json({"errcode": 0, "errmsg": "ok"})
        if path == "user/info":
            return self.json({"subscribe": 1, "openid": req.args["openid"], "subscribe_time": 1382694957,
                              "unionid": "o6_union", "tagid_list": [2]})
        return Response("not found", status=404)

    @staticmethod
    def json(data: dict) -> Response:
        return Response(json.dumps(data, ensure_ascii=False), mimetype="application/json")


@pytest.fixture
def fake() -> Iterator[tuple[FakeWeChat, str]]:
    api = FakeWeChat()
    server = make_server("127.0.0.1", 0, api, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def channel(base: str, cache: DictTokenCache, **settings: Any) -> WeChatChannel:
    config = AccountConfig(
        key="brand", channel="wechat", token="t", app_id="wxapp", app_secret=SECRET, api_base=base,
        settings=settings,
    )
    return WeChatChannel.from_account(config, cache)


def text(body: str = "hello") -> OutboundMessage:
    return OutboundMessage(account="brand", recipient="openid-1", text=body)


def test_send_returns_msgid_and_posts_the_text(fake: tuple[FakeWeChat, str]) -> None:
    api, base = fake
    assert channel(base, DictTokenCache()).send(text("你好")) == "1001"
    assert api.sent == [{"touser": "openid-1", "msgtype": "text", "text": {"content": "你好"}}]


def test_kf_account_is_named(fake: tuple[FakeWeChat, str]) -> None:
    api, base = fake
    channel(base + "/cgi-bin/", DictTokenCache()).send(
        OutboundMessage(account="brand", recipient="o", text="hi", kf_account="kf1@brand")
    )
    assert api.sent[0]["customservice"] == {"kf_account": "kf1@brand"}


def test_token_is_shared_between_instances_and_threads(fake: tuple[FakeWeChat, str]) -> None:
    api, base = fake
    api.token_delay = 0.2  # every caller arrives while the first fetch is in flight
    cache = DictTokenCache()
    channels = [channel(base, cache) for _ in range(4)]
    errors: list[BaseException] = []

    def work(ch: WeChatChannel) -> None:
        try:
            ch.send(text())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(channels[i % 4],)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    assert api.token_fetches == 1
    assert len(api.sent) == 12
    assert cache.get("wechat:access_token:wxapp") == "TOKEN1"
    assert 60 <= cache.ttls["wechat:access_token:wxapp"] < 7200  # refreshed before WeChat expires it


def test_rejected_token_is_refetched_once_and_retried(fake: tuple[FakeWeChat, str]) -> None:
    api, base = fake
    cache = DictTokenCache()
    first, second = channel(base, cache), channel(base, cache)
    first.send(text())
    api.valid_tokens = set()  # WeChat invalidated TOKEN1 (e.g. someone fetched one elsewhere)
    assert second.send(text()) == "1001"
    assert api.token_fetches == 2
    assert cache.get("wechat:access_token:wxapp") == "TOKEN2"
    first.send(text())  # the other instance picks up the new token from the cache
    assert api.token_fetches == 2


def test_a_token_refreshed_by_another_process_is_reused(fake: tuple[FakeWeChat, str]) -> None:
    api, base = fake
    cache = DictTokenCache()
    ch = channel(base, cache)
    ch.send(text())
    cache.set("wechat:access_token:wxapp", "TOKEN1-newer", 600)
    assert ch.client.replace_rejected("TOKEN1") == "TOKEN1-newer"
    assert api.token_fetches == 1


def test_token_still_rejected_after_refresh_is_permanent(fake: tuple[FakeWeChat, str]) -> None:
    api, base = fake
    api.reject_all_tokens = True
    with pytest.raises(PermanentSendError) as err:
        channel(base, DictTokenCache()).send(text())
    assert err.value.code == 40001
    assert api.token_fetches == 2  # the first fetch, one refresh, no loop


@pytest.mark.parametrize(
    "answer, error, code",
    [
        ({"errcode": 45015, "errmsg": "response out of time limit"}, PermanentSendError, 45015),
        ({"errcode": 45047, "errmsg": "out of response count limit"}, PermanentSendError, 45047),
        ({"errcode": 40003, "errmsg": "invalid openid"}, PermanentSendError, 40003),
        ({"errcode": -1, "errmsg": "system error"}, TransientSendError, -1),
        (502, TransientSendError, 502),
    ],
)
def test_errors_are_classified(
    fake: tuple[FakeWeChat, str], answer: Any, error: type[SendError], code: int
) -> None:
    api, base = fake
    api.script.append(answer)
    with pytest.raises(error) as err:
        channel(base, DictTokenCache()).send(text())
    assert err.value.code == code
    assert err.value.permanent is (error is PermanentSendError)
    assert api.sent == []


def test_timeout_is_transient(fake: tuple[FakeWeChat, str]) -> None:
    api, base = fake
    api.script.append(1.0)
    with pytest.raises(TransientSendError, match="timed out"):
        channel(base, DictTokenCache(), timeout_seconds=0.2).send(text())


def test_connection_refused_is_transient_and_never_leaks_the_secret(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with caplog.at_level(logging.DEBUG), pytest.raises(TransientSendError) as err:
        channel(f"http://127.0.0.1:{port}", DictTokenCache()).send(text())
    assert SECRET not in str(err.value) and SECRET not in repr(err.value.__cause__)
    assert SECRET not in caplog.text


def test_only_text_can_be_sent(fake: tuple[FakeWeChat, str]) -> None:
    _, base = fake
    ch = channel(base, DictTokenCache())
    with pytest.raises(PermanentSendError):
        ch.send(OutboundMessage(account="brand", recipient="o", kind="transfer"))
    with pytest.raises(PermanentSendError):
        ch.send(OutboundMessage(account="brand", recipient="o", text=""))


def test_tags_and_user_info(fake: tuple[FakeWeChat, str], caplog: pytest.LogCaptureFixture) -> None:
    api, base = fake
    ch = channel(base, DictTokenCache())
    with caplog.at_level(logging.DEBUG):
        tag_id = ch.create_tag("球鞋")
        assert tag_id == 3
        assert {"id": 3, "name": "球鞋", "count": 0} in ch.list_tags()
        openids = [f"o{i}" for i in range(120)]
        ch.tag_users(tag_id, openids)
        ch.untag_users(tag_id, (o for o in openids[:50]))
        ch.delete_tag(tag_id)
        info = ch.user_info("o7")
    assert [(kind, tid, len(batch)) for kind, tid, batch in api.tag_batches] == [
        ("batchtagging", 3, 50), ("batchtagging", 3, 50), ("batchtagging", 3, 20), ("batchuntagging", 3, 50)
    ]
    assert sum((batch for _, _, batch in api.tag_batches[:3]), []) == openids
    assert 3 not in api.tags
    assert (info["subscribe"], info["openid"], info["unionid"]) == (1, "o7", "o6_union")
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")  # not the fake's log
    assert "secret=***" in ours and "access_token=***" in ours
    assert SECRET not in ours and "TOKEN1" not in ours
    assert api.token_fetches == 1
