"""The knowledge-base index: built by an RQ job, stored as a versioned blob, loaded by every web and worker
process in the background and swapped in whole, so a rebuild never blocks or half-updates a search."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import redis
from sqlalchemy import delete, update
from sqlmodel import Session, select

from hub.db import session_scope
from hub.kb import retriever_entries, terms
from hub.models import KbEntry, ModelBlob, utcnow
from hub.state import HubState, get_state

log = logging.getLogger("hub.kb")
KIND = "kb_index"
VERSION_KEY = "hub:kb:version"
CHECK_EVERY_SECONDS = 1.0
KEEP_VERSIONS = 3


class KnowledgeBaseService:
    """What the FAQ bot and the agents' suggestions use: one loaded index and the entries it was built on."""

    def __init__(self, version: str, retriever: Any, entries: Mapping[str, Mapping[str, Any]]) -> None:
        self.version = version
        self.retriever = retriever
        self.entries = entries

    def decide(self, text: str) -> Any:
        return self.retriever.decide(text)

    def search(self, text: str, k: int = 5) -> list[Any]:
        return self.retriever.search(text, k=k)

    def entry(self, entry_id: str) -> Mapping[str, Any] | None:
        return self.entries.get(entry_id)


def rebuild_kb_index() -> str:
    """RQ job: build the index from the enabled entries and make it the active version."""
    from knowledge.retriever import Retriever

    state = get_state()
    started = time.perf_counter()
    with Session(state.engine) as session:
        entries = retriever_entries(session)
        user_terms, synonyms = terms(session)
    data = Retriever.build(entries, user_terms, synonyms).to_bytes()
    version = f"{utcnow():%Y%m%d%H%M%S}-{hashlib.sha1(data, usedforsecurity=False).hexdigest()[:8]}"
    with session_scope(state.engine) as session:
        session.execute(update(ModelBlob).where(ModelBlob.kind == KIND).values(active=False))
        session.add(ModelBlob(kind=KIND, version=version, active=True, data=data,
                              metrics={"entries": len(entries), "build_s": round(time.perf_counter() - started, 3)}))
        old = session.exec(select(ModelBlob.id).where(ModelBlob.kind == KIND).order_by(ModelBlob.id.desc())  # type: ignore[union-attr]
                           .offset(KEEP_VERSIONS)).all()
        if old:
            session.execute(delete(ModelBlob).where(ModelBlob.id.in_(old)))  # type: ignore[union-attr]
    with contextlib.suppress(redis.RedisError):  # without Redis, processes ask the database
        state.redis.set(VERSION_KEY, version)
    log.info("knowledge-base index built", extra={"version": version, "entries": len(entries)})
    return version


def request_rebuild(state: HubState) -> bool:
    from hub.queue import enqueue

    return enqueue(state.queue, rebuild_kb_index, replace_dead=True)


def _active_version(state: HubState) -> str | None:
    try:
        value = state.redis.get(VERSION_KEY)
        if value:
            return value.decode()
    except redis.RedisError:
        pass
    with Session(state.engine) as session:
        return session.exec(select(ModelBlob.version).where(ModelBlob.kind == KIND, ModelBlob.active == True)  # noqa: E712
                            .order_by(ModelBlob.id.desc())).first()  # type: ignore[union-attr]


def _load(state: HubState, version: str) -> KnowledgeBaseService | None:
    from knowledge.retriever import Retriever

    with Session(state.engine) as session:
        blob = session.exec(select(ModelBlob).where(ModelBlob.kind == KIND, ModelBlob.version == version)).first()
        if blob is None:
            return None
        rows = session.exec(select(KbEntry).where(KbEntry.enabled == True)).all()  # noqa: E712
        entries = {e.external_id: {"question": e.question, "answer": e.answer, "link_url": e.link_url, "id": e.id}
                   for e in rows}
        data = blob.data
    return KnowledgeBaseService(version, Retriever.from_bytes(data), entries)


class IndexHolder:
    """Per-process holder: checks for a new version at most once a second, loads it in a thread."""

    def __init__(self) -> None:
        self.current: KnowledgeBaseService | None = None
        self._checked = 0.0
        self._loading: str | None = None
        self._lock = threading.Lock()

    def get(self, state: HubState, wait: bool = False) -> KnowledgeBaseService | None:
        now = time.monotonic()
        if now - self._checked >= CHECK_EVERY_SECONDS or wait:
            self._checked = now
            version = _active_version(state)
            if version and (self.current is None or self.current.version != version):
                self._start_load(state, version, wait)
        return self.current

    def _start_load(self, state: HubState, version: str, wait: bool) -> None:
        with self._lock:
            if self._loading == version:
                return
            self._loading = version

        def load() -> None:
            try:
                service = _load(state, version)
                if service is not None:
                    self.current = service  # one assignment: readers see the old or the new, never half
            except Exception:
                log.exception("loading the knowledge-base index failed", extra={"version": version})
            finally:
                with self._lock:
                    self._loading = None

        if wait:
            load()
        else:
            threading.Thread(target=load, name="kb-index-load", daemon=True).start()


def kb_service(state: HubState, wait: bool = False) -> KnowledgeBaseService | None:
    holder: IndexHolder = state.extras.setdefault("kb_index", IndexHolder())
    return holder.get(state, wait=wait)
