"""Shared fixtures: a real redis-server, SQLite and PostgreSQL databases, the hub app, a live HTTP server,
the local WeChat API emulation, and an in-process RQ worker."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import SQLModel

from hub.core.workers import HubSimpleWorker
from tests.support.servers import LiveServer, PostgresServer, RedisServer

REQUIRE_POSTGRES = os.environ.get("HUB_TEST_REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, to stop, restart or lose its data."""
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer()
        server.start()
    except Exception as exc:
        if REQUIRE_POSTGRES:
            raise
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    yield server
    server.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once with Alembic; each test gets a copy."""
    from hub.core.migrate import upgrade

    path = tmp_path_factory.mktemp("template") / "hub.db"
    engine = create_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_database(postgres_server: PostgresServer) -> str:
    from hub.core.migrate import upgrade

    admin = create_engine(postgres_server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE hub_test"))
    admin.dispose()
    url = postgres_server.url("hub_test")
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        target = tmp_path / "hub.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite:///{target}"
    url = request.getfixturevalue("postgres_database")
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def hub_config(database_url: str, redis_server: RedisServer, tmp_path: Path) -> dict[str, Any]:
    import redis

    redis.Redis.from_url(redis_server.url).flushall()
    return {
        "instance_path": str(tmp_path / "instance"),
        "database_url": database_url,
        "redis_url": redis_server.url,
        "secret_key": "test-secret-key",
        "testing": True,
        "log_format": "text",
        "sweep_grace_seconds": 0,
        "send_retry_seconds": "0,0,0,0",  # retries without waiting for the scheduler
    }


@pytest.fixture
def app(hub_config: dict[str, Any]) -> Iterator[Any]:
    from hub.app import create_app

    flask_app = create_app(hub_config)
    state = flask_app.extensions["hub"]
    yield flask_app
    state.engine.dispose()


@pytest.fixture
def state(app: Any) -> Any:
    return app.extensions["hub"]


@pytest.fixture
def live_hub(app: Any) -> Iterator[LiveServer]:
    server = LiveServer(app)
    yield server
    server.close()


@pytest.fixture
def sandbox() -> Iterator[Any]:
    """The WeChat API emulation over real HTTP on loopback."""
    from hub.sandbox.wechat import SandboxState, create_sandbox_app

    sandbox_state = SandboxState()
    server = LiveServer(create_sandbox_app(sandbox_state))
    server.state = sandbox_state  # type: ignore[attr-defined]
    yield server
    server.close()


def run_jobs(state: Any, max_jobs: int | None = None) -> None:
    """Dispatch the webhook's inbox, then work the queue in this process until it is empty."""
    from hub.intake.dispatch import drain

    drain(state)
    HubSimpleWorker([state.queue], connection=state.queue.connection).work(burst=True, max_jobs=max_jobs)


@pytest.fixture
def worker(state: Any) -> Any:
    return lambda max_jobs=None: run_jobs(state, max_jobs)
