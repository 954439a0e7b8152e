"""A small TF-IDF vectorizer over pre-tokenized text, serialisable to plain arrays (no pickle).

scikit-learn's TfidfVectorizer would do the maths, but it keeps the analyzer as a callable (not portable
across processes without pickle) and costs ~100 µs per single-query transform; this one is a dict lookup.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp


class TfidfIndex:
    """Sublinear TF-IDF with l2-normalised rows; `matrix_t` is the transposed document matrix (terms × docs)
    so that one query's scores are a sparse row times a CSR matrix."""

    def __init__(self, vocab: dict[str, int], idf: np.ndarray, matrix_t: sp.csr_matrix) -> None:
        self.vocab = vocab
        self.idf = idf
        self.matrix_t = matrix_t
        self._idf_map: dict[str, float] | None = None
        self._max_idf = float(idf.max()) if len(idf) else 1.0

    @classmethod
    def fit(cls, docs: Sequence[Sequence[str]]) -> TfidfIndex:
        df: Counter[str] = Counter()
        for toks in docs:
            df.update(set(toks))
        vocab = {t: i for i, t in enumerate(sorted(df))}
        n = len(docs)
        idf = np.array([math.log((1 + n) / (1 + df[t])) + 1.0 for t in sorted(df)], dtype=np.float32)
        index = cls(vocab, idf, sp.csr_matrix((len(vocab), n), dtype=np.float32))
        rows, cols, vals = [], [], []
        for d, toks in enumerate(docs):
            ids, weights = index._weights(toks)
            rows.extend(ids)
            cols.extend([d] * len(ids))
            vals.extend(weights)
        index.matrix_t = sp.csr_matrix(
            (np.asarray(vals, dtype=np.float32), (np.asarray(rows, dtype=np.int64), np.asarray(cols))),
            shape=(len(vocab), n),
        )
        return index

    def _weights(self, toks: Sequence[str]) -> tuple[list[int], list[float]]:
        """Term ids and l2-normalised sublinear tf-idf weights of one text (unknown terms dropped)."""
        counts = Counter(t for t in toks if t in self.vocab)
        if not counts:
            return [], []
        ids = [self.vocab[t] for t in counts]
        w = [(1.0 + math.log(c)) * float(self.idf[i]) for i, c in zip(ids, counts.values(), strict=True)]
        norm = math.sqrt(sum(x * x for x in w))
        return ids, [x / norm for x in w]

    def scores(self, toks: Sequence[str]) -> np.ndarray:
        """Cosine similarity of the query tokens with every document (dense float32 array)."""
        ids, weights = self._weights(toks)
        n_docs = self.matrix_t.shape[1]
        if not ids:
            return np.zeros(n_docs, dtype=np.float32)
        sub = self.matrix_t[ids]  # only the rows of the query's terms
        return np.asarray(sub.T @ np.asarray(weights, dtype=np.float32)).ravel()

    def idf_of(self, token: str) -> float:
        """IDF of a token; unseen tokens get the highest IDF (they are rare by definition)."""
        if self._idf_map is None:  # built on first use: a dict lookup is ~10x faster than numpy indexing
            self._idf_map = dict(zip(self.vocab, self.idf[list(self.vocab.values())].tolist(), strict=True))
        return self._idf_map.get(token, self._max_idf)

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        terms = sorted(self.vocab, key=self.vocab.__getitem__)
        m = self.matrix_t
        return {
            f"{prefix}terms": np.array(terms, dtype=object).astype(str),
            f"{prefix}idf": self.idf,
            f"{prefix}data": m.data,
            f"{prefix}indices": m.indices,
            f"{prefix}indptr": m.indptr,
            f"{prefix}shape": np.array(m.shape, dtype=np.int64),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str) -> TfidfIndex:
        terms = arrays[f"{prefix}terms"].tolist()
        shape = tuple(int(x) for x in arrays[f"{prefix}shape"])
        m = sp.csr_matrix(
            (arrays[f"{prefix}data"], arrays[f"{prefix}indices"], arrays[f"{prefix}indptr"]), shape=shape
        )
        return cls({t: i for i, t in enumerate(terms)}, arrays[f"{prefix}idf"], m)
