"""RedisReplayMemory against a real redis-server: SET NX with the value seen before, its own connections
(kept, replaced, dropped, never shared with a forked child), and failing open when Redis is down."""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
import uuid

import pytest
import redis

from hub.core.redis_conn import quick_retry
from hub.intake.replay_memory import PREFIX, RedisReplayMemory
from tests.support.servers import RedisServer

WARNING = "replay memory unavailable"


def _client(server: RedisServer) -> redis.Redis:
    """Configured as the hub's (hub.core.redis_conn.make_redis)."""
    return redis.Redis.from_url(server.url, socket_timeout=1.0, socket_connect_timeout=1.0,
                                health_check_interval=30, retry=quick_retry())


def _key() -> str:
    return f"wechat:brand:1700000000:{uuid.uuid4().hex}"


def _connections(server: RedisServer, at_most: int) -> int:
    """Clients connected to the server, the one asking excluded, once at most `at_most` (or after 2 s): the
    server notices a closed connection a little later."""
    deadline = time.monotonic() + 2
    with redis.Redis(port=server.port) as admin:
        while True:
            count = len(admin.client_list()) - 1
            if count <= at_most or time.monotonic() > deadline:
                return count
            time.sleep(0.02)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if WARNING in r.getMessage()]


def test_a_key_keeps_its_first_value_for_its_ttl(redis_server: RedisServer) -> None:
    client = _client(redis_server)
    memory = RedisReplayMemory(client)
    key = _key()
    assert memory.remember(key, "digest-1", 300) is None
    assert memory.remember(key, "digest-1", 300) == "digest-1"  # a retry
    assert memory.remember(key, "digest-2", 300) == "digest-1"  # a replay
    assert client.get(PREFIX + key) == b"digest-1"
    assert 295 <= client.ttl(PREFIX + key) <= 300
    assert memory.remember(_key(), "x", 0) is None  # at least one second
    assert memory.remember("wechat:品牌:1:nonce", "d", 5) is None and client.get(PREFIX + "wechat:品牌:1:nonce") == b"d"


def test_a_redis_restart_between_calls_goes_unnoticed(own_redis: RedisServer,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    memory = RedisReplayMemory(_client(own_redis))
    caplog.set_level(logging.WARNING)
    for _ in range(3):
        key = _key()
        assert memory.remember(key, "a", 300) is None
        own_redis.stop()
        own_redis.start()  # empty: its connections are gone, and the key too
        assert memory.remember(key, "b", 300) is None  # on a new connection, not failing open
        assert memory.remember(key, "c", 300) == "b"
    assert _warnings(caplog) == []


def test_without_redis_the_memory_fails_open_and_pauses(own_redis: RedisServer,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    memory = RedisReplayMemory(_client(own_redis), pause_seconds=0.5)
    caplog.set_level(logging.WARNING)
    key = _key()
    assert memory.remember(key, "a", 300) is None
    own_redis.stop()
    try:
        assert memory.remember(key, "b", 300) is None  # connection refused: accepted unchecked
        assert len(_warnings(caplog)) == 1
        connects = 0
        real_connect = memory._connect

        def counting_connect() -> object:
            nonlocal connects
            connects += 1
            return real_connect()

        memory._connect = counting_connect  # type: ignore[method-assign]
        for _ in range(20):
            assert memory.remember(_key(), "c", 300) is None
        assert connects == 0 and len(_warnings(caplog)) == 1  # paused: Redis not even asked
        memory._paused_until = 0.0  # the pause is over
        assert memory.remember(_key(), "d", 300) is None
        assert connects == 1 and len(_warnings(caplog)) == 2
    finally:
        own_redis.start()
    memory._paused_until = 0.0
    key = _key()
    assert memory.remember(key, "e", 300) is None
    assert memory.remember(key, "f", 300) == "e"  # checked again


def test_a_failing_command_pauses_and_drops_its_connection(redis_server: RedisServer,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    client = _client(redis_server)
    memory = RedisReplayMemory(client)
    caplog.set_level(logging.WARNING)
    key = _key()
    client.rpush(PREFIX + key, "not a string")
    assert memory.remember(key, "a", 300) is None  # WRONGTYPE on the GET: fail open
    assert len(_warnings(caplog)) == 1 and len(memory._idle) == 0


def test_threads_share_a_few_connections(own_redis: RedisServer) -> None:
    memory = RedisReplayMemory(_client(own_redis), max_idle=4)
    keys = [_key() for _ in range(200)]
    answers: dict[str, list[str | None]] = {k: [] for k in keys}
    start = threading.Barrier(8)

    def run(n: int) -> None:
        start.wait()
        for key in keys:
            answers[key].append(memory.remember(key, f"body-{n}", 300))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for key, seen in answers.items():
        first = [n for n, value in enumerate(seen) if value is None]
        assert len(first) == 1  # exactly one thread set it; the others all saw the value it set
        winner = _client(own_redis).get(PREFIX + key)
        assert winner is not None
        assert sorted(v for v in seen if v is not None) == [winner.decode()] * 7
    assert len(memory._idle) <= 4 and _connections(own_redis, 4) <= 4

    # threads that come and go (one request each) leave nothing behind
    for _ in range(50):
        thread = threading.Thread(target=memory.remember, args=(_key(), "x", 300))
        thread.start()
        thread.join()
    assert _connections(own_redis, 4) <= 4


def test_a_connection_idle_too_long_is_replaced(own_redis: RedisServer) -> None:
    memory = RedisReplayMemory(_client(own_redis), idle_seconds=0.0)
    for _ in range(5):
        assert memory.remember(_key(), "x", 300) is None
        time.sleep(0.01)
    assert _connections(own_redis, 1) == 1


def _remember_in_child(memory: RedisReplayMemory, key: str, queue: multiprocessing.Queue[object]) -> None:
    seen = memory.remember(key, "child", 300)
    (connection, _), = memory._idle
    queue.put((seen, connection._sock.getsockname()))


def test_a_forked_child_opens_its_own_connections(redis_server: RedisServer) -> None:
    memory = RedisReplayMemory(_client(redis_server))
    assert memory.remember(_key(), "x", 300) is None
    (parent_connection, _), = memory._idle
    key = _key()
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[object] = context.Queue()
    child = context.Process(target=_remember_in_child, args=(memory, key, queue))
    child.start()
    seen, child_connection = queue.get(timeout=10)
    child.join(10)
    assert child.exitcode == 0 and seen is None and child_connection != parent_connection._sock.getsockname()
    assert memory.remember(key, "parent", 300) == "child"  # and the parent's connection still works
    assert memory._idle[-1][0] is parent_connection
