"""The knowledge-base index: built by an RQ job, stored as a versioned blob, loaded by every web and worker
process in the background and swapped in whole, so a rebuild never blocks or half-updates a search."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from sqlmodel import Session, select

from hub.core.blob_holder import holder, publish
from hub.core.models import ModelBlob, utcnow
from hub.core.queue import enqueue
from hub.core.state import HubState, get_state
from hub.kb.entries import retriever_entries, terms
from hub.kb.models import KbEntry

log = logging.getLogger("hub.kb")
KIND = "kb_index"


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
    publish(state, KIND, version, data, {"entries": len(entries), "build_s": round(time.perf_counter() - started, 3)})
    log.info("knowledge-base index built", extra={"version": version, "entries": len(entries)})
    return version


def request_rebuild(state: HubState) -> bool:
    return enqueue(state.queue, rebuild_kb_index, replace_dead=True)


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


def kb_service(state: HubState, wait: bool = False) -> KnowledgeBaseService | None:
    return holder(state, KIND, _load).get(state, wait=wait)
