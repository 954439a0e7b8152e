"""Knowledge-base retriever: lexical candidates (character 1–2-grams + jieba words, TF-IDF) and, with a
sentence encoder, semantic ones (dense top-k over question and question + answer vectors), reranked by a
small learned model over lexical and semantic features, plus the FAQ bot's answer / suggest / handoff
decision with thresholds calibrated on the knowledge base itself (knowledge.calibration).

An index is immutable once built; the hub serialises it with `to_bytes()` and swaps a freshly loaded
`Retriever.from_bytes()` in place of the old one, so a rebuild never blocks or half-updates a search.
"""

from __future__ import annotations

import copy
import io
import json
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from knowledge import embed_pool
from knowledge.decision import (  # noqa: F401 - re-exported: the retriever's public types
    EXACT_MATCH_CONFIDENCE,
    MAX_SUGGESTIONS,
    Decision,
    Hit,
    decide_hits,
    exact_rows,
    with_exact_rule,
)
from knowledge.dense import DENSE_CANDIDATES, DenseIndex, semantic_features, semantic_scores
from knowledge.encoder import Encoder, clip_message, clip_query
from knowledge.reranker import Thresholds, TreeEnsemble, load_default
from knowledge.retrieval_features import Prepared, pair_features
from knowledge.text import normalize
from knowledge.tokenizer import Tokenizer
from knowledge.vectorizer import TfidfIndex

FORMAT_VERSION = 2
CANDIDATES = 20  # entries reranked per query; recall@20 of the lexical stage is ~0.99 (lcqmc) / ~0.82 (oppo)


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    question: str
    similar: tuple[str, ...] = ()
    answer: str = ""

    @classmethod
    def from_mapping(cls, row: Mapping[str, object]) -> Entry:
        similar = row.get("similar") or row.get("similar_questions") or ()
        if isinstance(similar, str):
            similar = (similar,)
        return cls(
            id=str(row["id"]),
            question=str(row["question"]),
            similar=tuple(str(s) for s in similar),  # type: ignore[union-attr]
            answer=str(row.get("answer") or ""),
        )


class Retriever:
    def __init__(
        self,
        entry_ids: list[str],
        texts: list[str],
        text_words: list[tuple[str, ...]],
        text_entry: np.ndarray,
        char_index: TfidfIndex,
        word_index: TfidfIndex,
        tokenizer: Tokenizer,
        reranker: TreeEnsemble | None = None,
        dense: DenseIndex | None = None,
        encoder: Encoder | None = None,
        calibrated: Mapping[str, Thresholds] | None = None,
    ) -> None:
        self.entry_ids = entry_ids
        self.texts = texts  # matchable characters of every question and paraphrase
        self.text_words = text_words
        self.text_entry = text_entry  # text index → entry index
        self.char_index = char_index
        self.word_index = word_index
        self.tokenizer = tokenizer
        self._reranker = reranker
        self.dense = dense  # None: a lexical index
        self.encoder = encoder if dense is not None and encoder is not None and encoder.name == dense.encoder_name \
            else None  # semantic search needs the encoder the vectors were made with
        # thresholds calibrated on this knowledge base, per mode ("semantic", "lexical")
        self.calibrated: dict[str, Thresholds] = dict(calibrated or {})
        self.calibration_report: dict[str, object] = {}
        ends = np.searchsorted(text_entry, np.arange(len(entry_ids)), side="right")
        self._text_end = ends
        self._text_start = np.concatenate([[0], ends[:-1]]).astype(np.int64) if len(ends) else ends

    @property
    def semantic(self) -> bool:
        """Whether searches use the sentence encoder (else the lexical features alone)."""
        return self.encoder is not None

    # -- building -------------------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        entries: Iterable[Entry | Mapping[str, object]],
        user_terms: Iterable[str] = (),
        synonyms: Mapping[str, str] | None = None,
        reranker: TreeEnsemble | None = None,
        encoder: Encoder | None = None,
        vector_cache: dict[str, np.ndarray] | None = None,
        progress: object = None,
    ) -> Retriever:
        """With an encoder, entry vectors are looked up in `vector_cache` (text hash → vector) first."""
        tok = Tokenizer(user_terms, synonyms)
        raw_entries: list[tuple[str, tuple[str, ...], str]] = []
        entry_ids: list[str] = []
        texts: list[str] = []
        words: list[tuple[str, ...]] = []
        owner: list[int] = []
        seen: set[str] = set()
        for raw in entries:
            e = raw if isinstance(raw, Entry) else Entry.from_mapping(raw)
            if e.id in seen:
                raise ValueError(f"duplicate entry id {e.id!r}")
            seen.add(e.id)
            entry_ids.append(e.id)
            raw_entries.append((e.question, e.similar, e.answer))
            for q in dict.fromkeys((e.question, *e.similar)):  # de-duplicated, order kept
                clean = tok.normalize(q)
                chars = tok.chars(clean)
                if chars:
                    texts.append(chars)
                    words.append(tuple(tok.words(clean)))
                    owner.append(len(entry_ids) - 1)
        char_index = TfidfIndex.fit([_char_grams(t) for t in texts])
        word_index = TfidfIndex.fit(words)
        dense = None
        if encoder is not None:
            dense = DenseIndex.build(encoder, raw_entries, vector_cache, progress)  # type: ignore[arg-type]
        return cls(
            entry_ids, texts, words, np.asarray(owner, dtype=np.int32), char_index, word_index, tok, reranker,
            dense, encoder,
        )

    def __len__(self) -> int:
        return len(self.entry_ids)

    @property
    def reranker(self) -> TreeEnsemble:
        if self._reranker is None or self._reranker.semantic != self.semantic:
            self._reranker = load_default(self.semantic)  # loaded on first use: training builds without one
        return self._reranker

    @property
    def thresholds(self) -> Thresholds:
        """The calibrated thresholds of this knowledge base (those of the model before calibration)."""
        return self.calibrated.get(self.mode) or self.reranker.thresholds

    def lexical_view(self) -> Retriever:
        """The same index searched without the encoder (what runs when the encoder cannot be loaded)."""
        view = copy.copy(self)
        view.encoder = None
        view._reranker = None
        return view

    @property
    def mode(self) -> str:
        return "semantic" if self.semantic else "lexical"

    # -- searching ------------------------------------------------------------------------------------
    def query_vector(self, query: str) -> np.ndarray | None:
        """The encoder's vector of a message (its head and tail when long); None without an encoder."""
        if self.encoder is None:
            return None
        return self.encoder.query([clip_query(normalize(clip_message(query))) or " "])[0]

    def query_vectors(self, queries: Sequence[str], batch: int = 64) -> np.ndarray | None:
        """`query_vector` of many messages, encoded in batches (calibration)."""
        if self.encoder is None:
            return None
        clipped = [clip_query(normalize(clip_message(q))) or " " for q in queries]
        spec = getattr(self.encoder, "spec", None)
        if spec and len(clipped) >= embed_pool.PARALLEL_MIN and embed_pool.workers() > 1:
            try:
                return embed_pool.embed(spec, clipped, embed_pool.workers(), "query")
            except embed_pool.EmbedPoolError:
                pass  # embedded here instead
        parts = [self.encoder.query(clipped[i : i + batch]) for i in range(0, len(clipped), batch)]
        return np.vstack(parts) if parts else None

    def candidates(
        self, query: str, k: int = CANDIDATES, exclude: int | None = None, qv: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(text indices of the best text of up to k lexical and DENSE_CANDIDATES semantic candidate entries,
        their feature rows, their combined lexical scores). Empty arrays when nothing matches. `exclude`
        leaves one entry out (calibration); `qv` is the query's vector when already computed."""
        clean = self.tokenizer.normalize(clip_message(query))
        chars = self.tokenizer.chars(clean)
        if not chars or not self.texts:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32), np.zeros(0, np.float32)
        q_words = tuple(self.tokenizer.words(clean))
        s_char = self.char_index.scores(_char_grams(chars))
        s_word = self.word_index.scores(q_words)
        comb = 0.5 * (s_char + s_word)
        allowed = None
        if exclude is not None:
            comb[self.text_entry == exclude] = -1.0
            allowed = np.ones(len(self.entry_ids), dtype=bool)
            allowed[exclude] = False
        picked = self._lexical_top(comb, k)
        sem: tuple[np.ndarray, np.ndarray] | None = None
        if self.semantic and self.dense is not None:
            qv = self.query_vector(query) if qv is None else qv
            sem = self.dense.entry_cosines(qv)  # type: ignore[arg-type]
            best = semantic_scores(*sem)
            if allowed is not None:
                best = np.where(allowed, best, -2.0)
            m = min(DENSE_CANDIDATES, len(best))
            top_entries = np.argpartition(-best, m - 1)[:m] if m < len(best) else np.arange(len(best))
            have = {int(self.text_entry[t]) for t in picked}
            for e in top_entries[np.argsort(-best[top_entries], kind="stable")].tolist():
                if e not in have and self._text_end[e] > self._text_start[e] and best[e] > -2.0:
                    lo, hi = int(self._text_start[e]), int(self._text_end[e])
                    picked.append(lo + int(np.argmax(comb[lo:hi])))
        idx = np.asarray(picked, dtype=np.int64)
        if len(idx) == 0:
            return idx, np.zeros((0, 0), np.float32), np.zeros(0, np.float32)
        c = np.maximum(comb[idx], 0.0)
        feats = pair_features(
            Prepared(chars, q_words),
            [Prepared(self.texts[t], self.text_words[t]) for t in picked],
            s_char[idx], s_word[idx], c, self.char_index, self.word_index,
        )
        if sem is not None:
            feats = np.hstack([feats, semantic_features(self.text_entry[idx], *sem, allowed=allowed)])
        return idx, feats, c

    def _lexical_top(self, comb: np.ndarray, k: int) -> list[int]:
        """The best text of each of the k lexically best entries."""
        # Take more texts than k so that k distinct entries survive when entries have paraphrases.
        m = min(len(comb), k * 3)
        top = np.argpartition(-comb, m - 1)[:m] if m < len(comb) else np.arange(len(comb))
        top = top[np.argsort(-comb[top], kind="stable")]
        top = top[comb[top] > 0]
        picked: list[int] = []
        seen: set[int] = set()
        for t in top.tolist():
            e = int(self.text_entry[t])
            if e not in seen:
                seen.add(e)
                picked.append(t)
                if len(picked) == k:
                    break
        return picked

    def search(self, query: str, k: int = 10, exclude: int | None = None, qv: np.ndarray | None = None) -> list[Hit]:
        """Up to k entries, most likely answer first. Empty for blank, emoji-only or unmatched queries."""
        idx, feats, comb = self.candidates(query, max(k, CANDIDATES), exclude, qv)
        if len(idx) == 0:
            return []
        conf = with_exact_rule(self.reranker.predict(feats), feats)
        order = np.lexsort((-comb, -conf))[:k]  # by confidence, ties by lexical score
        return [
            Hit(
                entry_id=self.entry_ids[int(self.text_entry[idx[i]])],
                score=round(float(comb[i]), 6),
                confidence=round(float(conf[i]), 6),
                matched=self.texts[int(idx[i])],
            )
            for i in order
        ]

    def decide(self, query: str, thresholds: Thresholds | None = None) -> Decision:
        """The FAQ bot's decision with its real thresholds (those shipped with the reranker unless given)."""
        return decide_hits(self.search(query, k=MAX_SUGGESTIONS), thresholds or self.thresholds)

    # -- serialisation --------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """A self-contained blob (numpy .npz, no pickle) of the index; the reranker is not included."""
        meta = {
            "version": FORMAT_VERSION,
            "user_terms": self.tokenizer.user_terms,
            "synonyms": self.tokenizer.synonyms,
            "calibrated": {m: [t.answer, t.suggest] for m, t in self.calibrated.items()},
            "calibration": self.calibration_report,
        }
        arrays = {
            "meta": np.frombuffer(json.dumps(meta, ensure_ascii=False).encode(), dtype=np.uint8),
            "entry_ids": np.array(self.entry_ids, dtype=str),
            "texts": np.array(self.texts, dtype=str),
            "text_words": np.array([" ".join(w) for w in self.text_words], dtype=str),
            "text_entry": self.text_entry,
            **self.char_index.to_arrays("c_"),
            **self.word_index.to_arrays("w_"),
            **(self.dense.to_arrays() if self.dense is not None else {}),
        }
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, reranker: TreeEnsemble | None = None,
                   encoder: Encoder | None = None) -> Retriever:
        """The index of `to_bytes`; searches are semantic only when given the encoder it was built with."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            meta = json.loads(arrays["meta"].tobytes().decode())
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise ValueError(f"not a knowledge-base index blob ({exc}): rebuild the index") from exc
        if meta.get("version") not in (1, FORMAT_VERSION):  # 1: a lexical index from before vectors
            raise ValueError(f"index format {meta.get('version')} is not {FORMAT_VERSION}: rebuild the index")
        retriever = cls(
            entry_ids=arrays["entry_ids"].tolist(),
            texts=arrays["texts"].tolist(),
            text_words=[tuple(s.split()) for s in arrays["text_words"].tolist()],
            text_entry=arrays["text_entry"],
            char_index=TfidfIndex.from_arrays(arrays, "c_"),
            word_index=TfidfIndex.from_arrays(arrays, "w_"),
            tokenizer=Tokenizer(meta["user_terms"], meta["synonyms"]),
            reranker=reranker,
            dense=DenseIndex.from_arrays(arrays),
            encoder=encoder,
            calibrated={m: Thresholds(*t) for m, t in meta.get("calibrated", {}).items()},
        )
        retriever.calibration_report = dict(meta.get("calibration") or {})
        return retriever


def _char_grams(chars: str) -> list[str]:
    """Character 1–2-grams: on the evaluation data they beat 1–3-grams and words alike."""
    return [chars[i : i + n] for n in (1, 2) for i in range(len(chars) - n + 1)]
