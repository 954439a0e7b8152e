"""Pair features (query, candidate question) for the learned reranker/calibrator.

The distractors in a real knowledge base are lexically close questions with another meaning ("怎么关闭"
vs "怎么打开", "苹果7" vs "苹果8"), so besides similarity scores the features look at what does *not*
match: unmatched rare words and characters, negation, numbers, question words, and at the competition
(how close the next-best entry is), which makes an ambiguous match less confident.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from knowledge.vectorizer import TfidfIndex

NEGATIONS = frozenset("不没无别非未莫勿")
QUESTION_WORDS = (
    "为什么", "为啥", "怎么", "怎样", "如何", "什么", "哪", "谁", "多少", "几", "吗", "是否", "能否", "多久",
)
_PRONOUNS = re.compile(r"[我你他她它您咱]")
_NUMBER = re.compile(r"\d+|[零一二两三四五六七八九十百千万亿]+")

# name, monotone constraint for the tree model (+1: more of it never lowers the match probability).
FEATURES: tuple[tuple[str, int], ...] = (
    ("s_char", 1),
    ("s_word", 1),
    ("s_comb", 1),
    ("rank", 0),
    ("gap_to_top", -1),
    ("best_other", -1),
    ("margin", 1),
    ("len_q", 0),
    ("len_c", 0),
    ("len_ratio", 1),
    ("char_jaccard", 1),
    ("bigram_jaccard", 1),
    ("q_char_cover", 1),
    ("c_char_cover", 1),
    ("q_unmatched_word_idf", -1),
    ("c_unmatched_word_idf", -1),
    ("q_unmatched_char_idf", -1),
    ("c_unmatched_char_idf", -1),
    ("lcs_ratio", 1),
    ("negation_mismatch", 0),
    ("number_mismatch", 0),
    ("question_word_mismatch", 0),
    ("q_chars_outside_lcs", -1),
    ("c_chars_outside_lcs", -1),
    ("pronoun_order_mismatch", 0),
)
FEATURE_NAMES = tuple(name for name, _ in FEATURES)
MONOTONE = tuple(sign for _, sign in FEATURES)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A question reduced to what the features need."""

    chars: str
    words: tuple[str, ...]

    @property
    def char_set(self) -> frozenset[str]:
        return frozenset(self.chars)


def lcs_len(a: str, b: str) -> int:
    """Longest common subsequence length, bit-parallel (Hyyrö 2004): O(len(b)) big-int operations."""
    if not a or not b:
        return 0
    masks: dict[str, int] = {}
    for i, ch in enumerate(a):
        masks[ch] = masks.get(ch, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for ch in b:
        u = v & masks.get(ch, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def _bigrams(s: str) -> set[str]:
    return {s[i : i + 2] for i in range(len(s) - 1)}


def _jaccard(a: set[str] | frozenset[str], b: set[str] | frozenset[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def _idf_weights(tokens: Sequence[str], index: TfidfIndex) -> dict[str, float]:
    return {tok: index.idf_of(tok) for tok in set(tokens)}


def _unmatched_share(mine: dict[str, float], other: Mapping[str, float] | frozenset[str]) -> float:
    """IDF mass of `mine`'s tokens missing from `other`, as a share of `mine`'s IDF mass."""
    total = sum(mine.values())
    if not total:
        return 0.0
    return sum(w for tok, w in mine.items() if tok not in other) / total


def _markers(chars: str) -> tuple[int, frozenset[str], frozenset[str]]:
    negations = sum(ch in NEGATIONS for ch in chars)
    numbers = frozenset(_NUMBER.findall(chars))
    qwords = frozenset(w for w in QUESTION_WORDS if w in chars)
    return negations, numbers, qwords


def pair_features(
    query: Prepared,
    cands: Sequence[Prepared],
    s_char: np.ndarray,
    s_word: np.ndarray,
    s_comb: np.ndarray,
    char_index: TfidfIndex,
    word_index: TfidfIndex,
) -> np.ndarray:
    """Feature matrix (len(cands) × len(FEATURES)); candidates are in stage-1 order (best first)."""
    n = len(cands)
    out = np.zeros((n, len(FEATURES)), dtype=np.float32)
    if n == 0:
        return out
    top = float(s_comb.max())
    # best score among the *other* candidates: the runner-up for the top one, the top for the rest
    order = np.argsort(-s_comb)
    first, second = float(s_comb[order[0]]), float(s_comb[order[1]]) if n > 1 else 0.0
    q_set, q_bi = query.char_set, _bigrams(query.chars)
    q_neg, q_num, q_qw = _markers(query.chars)
    q_pron = _PRONOUNS.findall(query.chars)
    q_word_w, q_char_w = _idf_weights(query.words, word_index), _idf_weights(query.chars, char_index)
    lq = len(query.chars)
    for i, c in enumerate(cands):
        c_set = c.char_set
        c_word_w, c_char_w = _idf_weights(c.words, word_index), _idf_weights(c.chars, char_index)
        lc = len(c.chars)
        best_other = second if i == order[0] else first
        c_neg, c_num, c_qw = _markers(c.chars)
        lcs = lcs_len(query.chars, c.chars)
        out[i] = (
            s_char[i],
            s_word[i],
            s_comb[i],
            i,
            top - s_comb[i],
            best_other,
            s_comb[i] - best_other,
            lq,
            lc,
            min(lq, lc) / max(lq, lc, 1),
            _jaccard(q_set, c_set),
            _jaccard(q_bi, _bigrams(c.chars)),
            len(q_set & c_set) / max(len(q_set), 1),
            len(q_set & c_set) / max(len(c_set), 1),
            _unmatched_share(q_word_w, c_word_w),
            _unmatched_share(c_word_w, q_word_w),
            _unmatched_share(q_char_w, c_char_w),
            _unmatched_share(c_char_w, q_char_w),
            lcs / max(lq, lc, 1),
            float((q_neg % 2) != (c_neg % 2)),
            float(q_num != c_num),
            float(q_qw != c_qw),
            lq - lcs,
            lc - lcs,
            float(q_pron != _PRONOUNS.findall(c.chars)),
        )
    return out
