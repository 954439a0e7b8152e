"""The hub's process state: configuration, database engine, Redis, queue. Created by `create_app` only."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import redis
from rq import Queue
from sqlalchemy.engine import Engine

from hub.core.config import Config


@dataclass
class HubState:
    config: Config
    engine: Engine
    redis: redis.Redis
    queue: Queue
    pid: int = field(default_factory=os.getpid)
    # This process's caches (accounts, rule books, loaded models, channel clients...), each under the name of
    # the module that owns it. Never used to wire features together: that is hub.app's job, by name.
    caches: dict[str, Any] = field(default_factory=dict)


_current: HubState | None = None


def set_current(state: HubState) -> None:
    global _current
    _current = state


def get_state() -> HubState:
    """The state of this process; after a fork (an RQ work horse) pooled connections are dropped."""
    if _current is None:
        raise RuntimeError("the hub is not initialised: call hub.app.create_app() first")
    if _current.pid != os.getpid():
        # Connections inherited from the parent must not be shared with it.
        _current.engine.dispose(close=False)
        _current.pid = os.getpid()
    return _current
