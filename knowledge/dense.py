"""The semantic half of the knowledge-base index: one sentence vector per question and paraphrase of an
entry plus one for its question + answer, and the per-query features the reranker learns from.

Raw cosines of this encoder sit between 0.87 and 0.99 for right, wrong and unrelated matches alike, so
the features are relative: the rank of an entry, its gap to the best, its margin over the next, and how
far it stands above the knowledge base's own spread of cosines for this query (a z-score).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from knowledge.encoder import PASSAGE_CHARS, CachedEncoder, Encoder, text_key

DENSE_CANDIDATES = 10  # entries the dense stage adds to the lexical candidates
SEMANTIC_FEATURES: tuple[tuple[str, int], ...] = (
    ("cos_question", 1),
    ("cos_answer", 1),
    ("cos_best", 1),
    ("cos_rank", -1),
    ("cos_gap_to_top", -1),
    ("cos_margin", 1),
    ("cos_z", 1),
    ("cos_top_z", 0),
)
SEMANTIC_NAMES = tuple(name for name, _ in SEMANTIC_FEATURES)
_RANK_CAP = 30


def entry_texts(question: str, similar: Sequence[str], answer: str) -> tuple[list[str], str]:
    """What is embedded for an entry: each question/paraphrase, and the question with the answer's start."""
    questions = [q.strip()[:PASSAGE_CHARS] for q in dict.fromkeys((question, *similar)) if q.strip()]
    both = (question.strip() + " " + answer.strip()).strip()[:PASSAGE_CHARS]
    return questions, both


class DenseIndex:
    def __init__(self, encoder_name: str, vectors: np.ndarray, keys: list[str], owner: np.ndarray,
                 is_answer: np.ndarray, n_entries: int) -> None:
        self.encoder_name = encoder_name
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # n_vectors × dim, L2-normalised
        self.keys = keys  # text hash of each vector (the cache key of the next build)
        self.owner = owner.astype(np.int32)  # vector → entry index
        self.is_answer = is_answer.astype(bool)  # the question + answer vector of its entry
        self.n_entries = n_entries
        self.encoded = 0  # texts the last build sent to the model (the others came from the cache)
        # Per-entry maxima by segments (vectors come in entry order): np.maximum.at costs ~4 ms at 10k entries.
        self._q_idx = np.flatnonzero(~self.is_answer)
        self._a_idx = np.flatnonzero(self.is_answer)
        q_owner = self.owner[self._q_idx]
        self._ordered = bool(np.all(np.diff(self.owner) >= 0))
        lo = np.searchsorted(q_owner, np.arange(n_entries), side="left")
        self._q_has = lo < np.searchsorted(q_owner, np.arange(n_entries), side="right")
        self._q_starts = lo[self._q_has]

    @classmethod
    def build(cls, encoder: Encoder, entries: Sequence[tuple[str, Sequence[str], str]],
              cache: dict[str, np.ndarray] | None = None,
              progress: Callable[[int, int], None] | None = None) -> DenseIndex:
        """entries: (question, similar, answer) per entry, in the retriever's entry order."""
        texts: list[str] = []
        owner: list[int] = []
        is_answer: list[bool] = []
        for i, (question, similar, answer) in enumerate(entries):
            questions, both = entry_texts(question, similar, answer)
            for t in (*questions, both):
                texts.append(t)
                owner.append(i)
                is_answer.append(t is both)
        cached = encoder if isinstance(encoder, CachedEncoder) else CachedEncoder(encoder, cache)
        vectors = cached.passage(texts, progress=progress) if texts else np.zeros((0, 1), np.float32)
        keys = [text_key(cached.name, "p", t) for t in texts]
        index = cls(cached.name, vectors, keys, np.asarray(owner), np.asarray(is_answer), len(entries))
        index.encoded = cached.encoded
        return index

    def cache(self) -> dict[str, np.ndarray]:
        """Text hash → vector, for the next build (an edit re-embeds only what changed)."""
        return dict(zip(self.keys, self.vectors, strict=True))

    @staticmethod
    def vectors_of_blob(data: bytes) -> dict[str, np.ndarray]:
        """Text hash → vector stored in an index blob (empty for a lexical or unreadable one)."""
        import io
        import zipfile

        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                if "d_keys" not in z.files:
                    return {}
                return dict(zip(z["d_keys"].tolist(), z["d_vectors"].astype(np.float32), strict=True))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return {}

    def entry_cosines(self, qv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per entry: the best cosine over its questions, and the cosine of its question + answer."""
        cos = self.vectors @ qv
        best_q = np.full(self.n_entries, -1.0, np.float32)
        with_answer = np.full(self.n_entries, -1.0, np.float32)
        if not self._ordered:  # not built by `build` in entry order: the slow, general way
            np.maximum.at(best_q, self.owner[~self.is_answer], cos[~self.is_answer])
            np.maximum.at(with_answer, self.owner[self.is_answer], cos[self.is_answer])
            return best_q, with_answer
        if len(self._q_starts):
            best_q[self._q_has] = np.maximum.reduceat(cos[self._q_idx], self._q_starts)
        with_answer[self.owner[self._a_idx]] = cos[self._a_idx]  # one question + answer vector per entry
        return best_q, with_answer

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"d_vectors": self.vectors.astype(np.float16), "d_keys": np.array(self.keys, dtype=str),
                "d_owner": self.owner, "d_is_answer": self.is_answer,
                "d_meta": np.array([self.encoder_name, str(self.n_entries)], dtype=str)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> DenseIndex | None:
        if "d_vectors" not in arrays:
            return None
        name, n = arrays["d_meta"].tolist()
        return cls(name, arrays["d_vectors"].astype(np.float32), arrays["d_keys"].tolist(), arrays["d_owner"],
                   arrays["d_is_answer"], int(n))


def semantic_scores(best_q: np.ndarray, with_answer: np.ndarray) -> np.ndarray:
    return np.maximum(best_q, with_answer)


def semantic_features(cands: np.ndarray, best_q: np.ndarray, with_answer: np.ndarray,
                      allowed: np.ndarray | None = None) -> np.ndarray:
    """Feature rows (len(cands) × SEMANTIC_FEATURES) for candidate entry indices. `allowed` masks entries
    out (calibration leaves an entry out without rebuilding)."""
    best = semantic_scores(best_q, with_answer)
    pool = best if allowed is None else np.where(allowed, best, -1.0)
    live = pool[pool > -1.0]
    mean, std = (float(live.mean()), float(live.std()) + 1e-4) if len(live) else (0.0, 1.0)
    order = np.argsort(-pool, kind="stable")
    top = float(pool[order[0]]) if len(order) else 0.0
    second = float(pool[order[1]]) if len(order) > 1 else mean
    rank_of = np.empty(len(pool), np.int64)
    rank_of[order] = np.arange(len(pool))
    out = np.zeros((len(cands), len(SEMANTIC_FEATURES)), np.float32)
    for row, e in enumerate(cands.tolist()):
        s = float(pool[e])
        other = second if rank_of[e] == 0 else top
        out[row] = (best_q[e], with_answer[e], s, min(int(rank_of[e]), _RANK_CAP), top - s, s - other,
                    (s - mean) / std, (top - mean) / std)
    return out
