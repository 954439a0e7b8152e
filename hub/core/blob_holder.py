"""Versioned artefacts (knowledge-base index, classifiers) shared by every process: the active version is
announced in Redis (falling back to the database), and each process loads a new one in a background
thread and swaps it in whole, so requests never wait for a load or see half of one."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import redis
from sqlalchemy import delete, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from hub.core.db import session_scope
from hub.core.models import ModelBlob
from hub.core.state import HubState

log = logging.getLogger("hub.blobs")
T = TypeVar("T")
CHECK_EVERY_SECONDS = 1.0
KEEP_VERSIONS = 3


def version_key(kind: str) -> str:
    return f"hub:blob:{kind}:version"


def publish(state: HubState, kind: str, version: str, data: bytes, metrics: dict[str, Any]) -> None:
    """Store a new version as the active one (keeping the last few) and announce it."""
    with session_scope(state.engine) as session:
        session.execute(update(ModelBlob).where(ModelBlob.kind == kind).values(active=False))
        session.add(ModelBlob(kind=kind, version=version, active=True, data=data, metrics=metrics))
        session.flush()
        old = session.exec(select(ModelBlob.id).where(ModelBlob.kind == kind)
                           .order_by(ModelBlob.id.desc()).offset(KEEP_VERSIONS)).all()  # type: ignore[union-attr]
        if old:
            session.execute(delete(ModelBlob).where(ModelBlob.id.in_(old)))  # type: ignore[union-attr]
    with contextlib.suppress(redis.RedisError):  # without Redis, processes ask the database
        state.redis.set(version_key(kind), version)


def active_version(state: HubState, kind: str) -> str | None:
    try:
        value = state.redis.get(version_key(kind))
        if value:
            return value.decode()
    except redis.RedisError:
        pass
    with Session(state.engine) as session:
        return session.exec(select(ModelBlob.version).where(ModelBlob.kind == kind, ModelBlob.active == True)  # noqa: E712
                            .order_by(ModelBlob.id.desc())).first()  # type: ignore[union-attr]


def active_blob(state: HubState, kind: str) -> ModelBlob | None:
    with Session(state.engine) as session:
        return session.exec(select(ModelBlob).where(ModelBlob.kind == kind, ModelBlob.active == True)  # noqa: E712
                            .order_by(ModelBlob.id.desc())).first()  # type: ignore[union-attr]


class BlobHolder(Generic[T]):
    """Per-process holder of the loaded form of one kind of blob. `load(state, version)` builds it."""

    def __init__(self, kind: str, load: Callable[[HubState, str], T | None]) -> None:
        self.kind = kind
        self.current: T | None = None
        self.current_version: str | None = None
        self._load = load
        self._checked = 0.0
        self._loading: str | None = None
        self._lock = threading.Lock()

    def get(self, state: HubState, wait: bool = False) -> T | None:
        now = time.monotonic()
        if wait or now - self._checked >= CHECK_EVERY_SECONDS:
            self._checked = now
            try:
                version = active_version(state, self.kind)
            except SQLAlchemyError as exc:  # e.g. the schema is not migrated yet: serve what we have
                log.warning("cannot look up the active blob", extra={"kind": self.kind, "error": type(exc).__name__})
                return self.current
            if version and version != self.current_version:
                self._start(state, version, wait)
        return self.current

    def _start(self, state: HubState, version: str, wait: bool) -> None:
        with self._lock:
            if self._loading == version and not wait:
                return
            self._loading = version

        def run() -> None:
            try:
                loaded = self._load(state, version)
                if loaded is not None:
                    self.current, self.current_version = loaded, version  # readers see old or new, never half
            except Exception:
                log.exception("loading a blob failed", extra={"kind": self.kind, "version": version})
            finally:
                with self._lock:
                    self._loading = None

        if wait:
            run()
        else:
            threading.Thread(target=run, name=f"load-{self.kind}", daemon=True).start()


def holder(state: HubState, kind: str, load: Callable[[HubState, str], T | None]) -> BlobHolder[T]:
    holders: dict[str, BlobHolder[Any]] = state.caches.setdefault("blob_holders", {})
    if kind not in holders:
        holders[kind] = BlobHolder(kind, load)
    return holders[kind]
