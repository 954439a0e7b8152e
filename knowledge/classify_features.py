"""A small, fast TF-IDF feature space over two blocks: jieba words and character n-grams.

scikit-learn's TfidfVectorizer builds one Python dict entry per feature per document; here the
per-document work is only generating strings and one dict lookup each, the rest is numpy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from itertools import repeat

import numpy as np
import scipy.sparse as sp

from knowledge.classify_text import char_features, normalise, word_features

Analyzer = Callable[[str], list[str]]


def _analyzers(char_max_n: int) -> list[Analyzer]:
    return [word_features, lambda t: char_features(t, char_max_n)]


class FeatureSpace:
    """Vocabulary + idf per block; transform() gives L2-normalised sublinear TF-IDF rows."""

    def __init__(
        self,
        vocabularies: list[dict[str, int]],
        idfs: list[np.ndarray],
        char_max_n: int = 3,
        block_weights: Sequence[float] = (1.0, 1.0),
    ) -> None:
        self.vocabularies = vocabularies
        self.idfs = idfs
        self.char_max_n = char_max_n
        self.block_weights = tuple(float(w) for w in block_weights)
        self._analyzers = _analyzers(char_max_n)
        self._offsets = np.cumsum([0] + [len(v) for v in vocabularies])
        # Lookup tables map straight to global column ids, so transform() needs no arithmetic.
        self._lookups = [
            {f: int(i + off) for f, i in v.items()} for v, off in zip(vocabularies, self._offsets, strict=False)
        ]
        self._idf = np.concatenate(
            [idf * w for idf, w in zip(idfs, self.block_weights, strict=True)]
        ).astype(np.float32)

    @property
    def n_features(self) -> int:
        return int(self._offsets[-1])

    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        char_max_n: int = 3,
        min_df: int = 1,
        block_weights: Sequence[float] = (1.0, 1.0),
    ) -> FeatureSpace:
        norm = [normalise(t) for t in texts]
        vocabularies: list[dict[str, int]] = []
        idfs: list[np.ndarray] = []
        n_docs = len(norm)
        for analyze in _analyzers(char_max_n):
            df: dict[str, int] = {}
            for t in norm:
                for f in set(analyze(t)):
                    df[f] = df.get(f, 0) + 1
            kept = sorted(f for f, c in df.items() if c >= min_df)
            vocabularies.append({f: i for i, f in enumerate(kept)})
            # smooth idf as in scikit-learn: ln((1+n)/(1+df)) + 1
            idfs.append(np.array([math.log((1 + n_docs) / (1 + df[f])) + 1.0 for f in kept]))
        return cls(vocabularies, idfs, char_max_n, block_weights)

    def transform(self, texts: Iterable[str]) -> sp.csr_matrix:
        cols: list[int] = []
        lengths: list[int] = []
        pairs = list(zip(self._analyzers, self._lookups, strict=True))
        for text in texts:
            t = normalise(text)
            before = len(cols)
            for analyze, lookup in pairs:
                feats = analyze(t)
                cols.extend(map(lookup.get, feats, repeat(-1, len(feats))))  # -1: unknown feature
            lengths.append(len(cols) - before)
        n = len(lengths)
        nf = max(self.n_features, 1)
        col_arr = np.asarray(cols, dtype=np.int64)
        row_arr = np.repeat(np.arange(n, dtype=np.int64), lengths)
        known = col_arr >= 0
        # One sort does three jobs: groups by row, orders columns, and counts repeated features.
        keys, counts = np.unique(row_arr[known] * nf + col_arr[known], return_counts=True)
        rows = keys // nf
        indices = (keys - rows * nf).astype(np.int32)
        data = (1.0 + np.log(counts)).astype(np.float32) * self._idf[indices]
        norms = np.sqrt(np.bincount(rows, weights=data.astype(np.float64) ** 2, minlength=n))
        norms[norms == 0] = 1.0
        data /= norms[rows].astype(np.float32)
        indptr = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        return sp.csr_matrix((data, indices, indptr), shape=(n, self.n_features))

    # -- serialisation: plain lists and arrays, no pickle --------------------------------------
    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        meta = {
            "char_max_n": self.char_max_n,
            "block_weights": list(self.block_weights),
            "vocabularies": [sorted(v, key=v.__getitem__) for v in self.vocabularies],
        }
        arrays = {f"idf{i}": idf for i, idf in enumerate(self.idfs)}
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> FeatureSpace:
        vocabularies = [{f: i for i, f in enumerate(words)} for words in meta["vocabularies"]]
        idfs = [np.asarray(arrays[f"idf{i}"], dtype=np.float64) for i in range(len(vocabularies))]
        return cls(vocabularies, idfs, int(meta["char_max_n"]), meta["block_weights"])
