"""Knowledge-base retriever: lexical candidates (character 1–2-grams + jieba words, TF-IDF) reranked and
calibrated by a small learned model, plus the FAQ bot's answer / suggest / handoff decision.

An index is immutable once built; the hub serialises it with `to_bytes()` and swaps a freshly loaded
`Retriever.from_bytes()` in place of the old one, so a rebuild never blocks or half-updates a search.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from knowledge.reranker import Thresholds, TreeEnsemble, load_default
from knowledge.retrieval_features import FEATURE_NAMES, Prepared, pair_features
from knowledge.tokenizer import Tokenizer
from knowledge.vectorizer import TfidfIndex

FORMAT_VERSION = 1
CANDIDATES = 20  # entries reranked per query; recall@20 of the lexical stage is ~0.99 (lcqmc) / ~0.82 (oppo)
MAX_SUGGESTIONS = 3
EXACT_MATCH_CONFIDENCE = 0.99
_IDENTICAL = FEATURE_NAMES.index("identical")


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


@dataclass(frozen=True, slots=True)
class Hit:
    entry_id: str
    score: float  # lexical similarity of the best-matching question of the entry (0..1)
    confidence: float  # calibrated probability that this entry answers the query (0..1)
    matched: str  # the entry question (or paraphrase) that matched


@dataclass(frozen=True, slots=True)
class Decision:
    action: Literal["answer", "suggest", "handoff"]
    hits: tuple[Hit, ...]  # answer: the one hit; suggest: up to MAX_SUGGESTIONS; handoff: top candidates for the agent


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
    ) -> None:
        self.entry_ids = entry_ids
        self.texts = texts  # matchable characters of every question and paraphrase
        self.text_words = text_words
        self.text_entry = text_entry  # text index → entry index
        self.char_index = char_index
        self.word_index = word_index
        self.tokenizer = tokenizer
        self._reranker = reranker

    # -- building -------------------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        entries: Iterable[Entry | Mapping[str, object]],
        user_terms: Iterable[str] = (),
        synonyms: Mapping[str, str] | None = None,
        reranker: TreeEnsemble | None = None,
    ) -> Retriever:
        tok = Tokenizer(user_terms, synonyms)
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
            for q in dict.fromkeys((e.question, *e.similar)):  # de-duplicated, order kept
                clean = tok.normalize(q)
                chars = tok.chars(clean)
                if chars:
                    texts.append(chars)
                    words.append(tuple(tok.words(clean)))
                    owner.append(len(entry_ids) - 1)
        char_index = TfidfIndex.fit([_char_grams(t) for t in texts])
        word_index = TfidfIndex.fit(words)
        return cls(
            entry_ids, texts, words, np.asarray(owner, dtype=np.int32), char_index, word_index, tok, reranker
        )

    def __len__(self) -> int:
        return len(self.entry_ids)

    @property
    def reranker(self) -> TreeEnsemble:
        if self._reranker is None:  # loaded on first use so that training can build indexes without one
            self._reranker = load_default()
        return self._reranker

    @property
    def thresholds(self) -> Thresholds:
        return self.reranker.thresholds

    # -- searching ------------------------------------------------------------------------------------
    def candidates(self, query: str, k: int = CANDIDATES) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Lexical stage: (text indices of the best text of up to k entries, their pair features,
        their combined lexical scores), best first. Empty arrays when nothing matches."""
        clean = self.tokenizer.normalize(query)
        chars = self.tokenizer.chars(clean)
        if not chars or not self.texts:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32), np.zeros(0, np.float32)
        q_words = tuple(self.tokenizer.words(clean))
        s_char = self.char_index.scores(_char_grams(chars))
        s_word = self.word_index.scores(q_words)
        comb = 0.5 * (s_char + s_word)
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
        idx = np.asarray(picked, dtype=np.int64)
        if len(idx) == 0:
            return idx, np.zeros((0, 0), np.float32), np.zeros(0, np.float32)
        feats = pair_features(
            Prepared(chars, q_words),
            [Prepared(self.texts[t], self.text_words[t]) for t in picked],
            s_char[idx],
            s_word[idx],
            comb[idx],
            self.char_index,
            self.word_index,
        )
        return idx, feats, comb[idx]

    def search(self, query: str, k: int = 10) -> list[Hit]:
        """Up to k entries, most likely answer first. Empty for blank, emoji-only or unmatched queries."""
        idx, feats, comb = self.candidates(query, max(k, CANDIDATES))
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
        }
        arrays = {
            "meta": np.frombuffer(json.dumps(meta, ensure_ascii=False).encode(), dtype=np.uint8),
            "entry_ids": np.array(self.entry_ids, dtype=str),
            "texts": np.array(self.texts, dtype=str),
            "text_words": np.array([" ".join(w) for w in self.text_words], dtype=str),
            "text_entry": self.text_entry,
            **self.char_index.to_arrays("c_"),
            **self.word_index.to_arrays("w_"),
        }
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, reranker: TreeEnsemble | None = None) -> Retriever:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            meta = json.loads(arrays["meta"].tobytes().decode())
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise ValueError(f"not a knowledge-base index blob ({exc}): rebuild the index") from exc
        if meta.get("version") != FORMAT_VERSION:
            raise ValueError(f"index format {meta.get('version')} is not {FORMAT_VERSION}: rebuild the index")
        return cls(
            entry_ids=arrays["entry_ids"].tolist(),
            texts=arrays["texts"].tolist(),
            text_words=[tuple(s.split()) for s in arrays["text_words"].tolist()],
            text_entry=arrays["text_entry"],
            char_index=TfidfIndex.from_arrays(arrays, "c_"),
            word_index=TfidfIndex.from_arrays(arrays, "w_"),
            tokenizer=Tokenizer(meta["user_terms"], meta["synonyms"]),
            reranker=reranker,
        )


def exact_rows(feats: np.ndarray) -> np.ndarray:
    """Candidates whose question is the query verbatim (after normalisation): the rule, not the model,
    scores them."""
    return feats[:, _IDENTICAL] == 1


def with_exact_rule(conf: np.ndarray, feats: np.ndarray) -> np.ndarray:
    """A fan who types an entry's question verbatim gets that entry. The model alone scores such matches
    ~0.5: its training corpora label many verbatim duplicates as *other* entries, which a curated knowledge
    base does not do."""
    return np.where(exact_rows(feats), np.maximum(conf, EXACT_MATCH_CONFIDENCE), conf)


def decide_hits(hits: Sequence[Hit], th: Thresholds) -> Decision:
    """answer when the best hit is confident; a short "您是想问…" list when middling; otherwise hand off
    (with the top candidates attached for the agent)."""
    if hits and hits[0].confidence >= th.answer:
        return Decision("answer", (hits[0],))
    suggestions = tuple(h for h in hits[:MAX_SUGGESTIONS] if h.confidence >= th.suggest)
    if suggestions:
        return Decision("suggest", suggestions)
    return Decision("handoff", tuple(hits[:MAX_SUGGESTIONS]))


def _char_grams(chars: str) -> list[str]:
    """Character 1–2-grams: on the evaluation data they beat 1–3-grams and words alike."""
    return [chars[i : i + n] for n in (1, 2) for i in range(len(chars) - n + 1)]
