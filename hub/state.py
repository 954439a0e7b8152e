"""The hub's process state: configuration, database engine, Redis, queue. Created by `create_app` only."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import redis
from rq import Queue
from sqlalchemy.engine import Engine

from hub.config import Config


@dataclass
class HubState:
    config: Config
    engine: Engine
    redis: redis.Redis
    queue: Queue
    pid: int = field(default_factory=os.getpid)
    # Caches and services filled in by the app factory (rules, channels, knowledge-base index, models).
    extras: dict[str, Any] = field(default_factory=dict)


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
