"""Pair features (query, candidate question) for the learned reranker/calibrator.

The distractors in a real knowledge base are lexically close questions with another meaning ("怎么关闭"
vs "怎么打开", "苹果7" vs "苹果8"), so besides similarity scores the features look at what does *not*
match: unmatched rare words and characters, negation, numbers, question words, and at the competition
(how close the next-best entry is), which makes an ambiguous match less confident.

Every feature is scale-free (a ratio, a share, an IDF, a flag): the model must transfer to knowledge bases
it has never seen. Absolute lengths and counts (characters, words, edit distance, stage-1 rank) encode one
corpus's typical question length and were dropped: a reranker trained on lcqmc (long open-domain
questions) ranked oppo (short assistant commands) *worse* than the lexical scores alone with them
(answerable_top1 0.437 vs 0.509) and 0.521 without them; lcqmc trained on oppo stayed level (0.659 / 0.657).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz.distance import LCSseq, Levenshtein

from knowledge.vectorizer import TfidfIndex

NEGATIONS = frozenset("不没无别非未莫勿")
QUESTION_WORDS = (
    "为什么", "为啥", "怎么", "怎样", "如何", "什么", "哪", "谁", "多少", "几", "吗", "是否", "能否", "多久",
)
_PRONOUNS = re.compile(r"[我你他她它您咱]")
_MAX_ALIGN = 64
_NUMBER = re.compile(r"\d+|[零一二两三四五六七八九十百千万亿]+")

# name, monotone constraint for the tree model (+1: more of it never lowers the match probability).
FEATURES: tuple[tuple[str, int], ...] = (
    ("s_char", 1),
    ("s_word", 1),
    ("s_comb", 1),
    ("gap_to_top", -1),
    ("best_other", -1),
    ("margin", 1),
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
    ("identical", 0),  # same matchable characters: scored by the retriever's verbatim rule, never learned
    ("pronoun_order_mismatch", 0),
    *((f"{kind}{n}", 1) for n in (1, 2, 3, 4) for kind in ("gram_jaccard_", "q_gram_cover_", "c_gram_cover_")),
    ("q_substring_ratio", 1),
    ("c_substring_ratio", 1),
    ("edit_ratio", -1),
    ("word_jaccard", 1),
    ("q_word_cover", 1),
    ("c_word_cover", 1),
    ("q_extra_char_max_idf", -1),
    ("c_extra_char_max_idf", -1),
    ("q_extra_word_max_idf", -1),
    ("c_extra_word_max_idf", -1),
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
    """Longest common subsequence length (rapidfuzz's bit-parallel C++ implementation)."""
    return int(LCSseq.similarity(a, b))


def longest_common_substring(a: str, b: str) -> int:
    """Length of the longest common substring: binary search on the length, a set of b's substrings per
    step (O(n log n) slices instead of an O(n·m) Python loop)."""
    if not a or not b:
        return 0

    def shared(n: int) -> bool:
        grams = {b[j : j + n] for j in range(len(b) - n + 1)}
        return any(a[i : i + n] in grams for i in range(len(a) - n + 1))

    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if shared(mid):
            low = mid
        else:
            high = mid - 1
    return low


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (rapidfuzz's C++ implementation)."""
    return int(Levenshtein.distance(a, b))


def _grams(s: str, n: int) -> set[str]:
    return {s[i : i + n] for i in range(len(s) - n + 1)}


def _extra(q: Prepared, c: Prepared, char_index: TfidfIndex, word_index: TfidfIndex) -> list[float]:
    """n-gram overlaps (n = 1..4), substring/edit distances and what differs, with its rarity."""
    out: list[float] = []
    for n in (1, 2, 3, 4):
        a, b = _grams(q.chars, n), _grams(c.chars, n)
        inter = len(a & b)
        out += [inter / max(len(a | b), 1), inter / max(len(a), 1), inter / max(len(b), 1)]
    qa, ca = q.chars[:_MAX_ALIGN], c.chars[:_MAX_ALIGN]  # quadratic in length: bound the cost of long messages
    sub, ed = longest_common_substring(qa, ca), edit_distance(qa, ca)
    out += [sub / max(len(qa), 1), sub / max(len(ca), 1), ed / max(len(qa), len(ca), 1)]
    qw, cw = set(q.words), set(c.words)
    inter = len(qw & cw)
    out += [inter / max(len(qw | cw), 1), inter / max(len(qw), 1), inter / max(len(cw), 1)]
    qx, cx = q.char_set - c.char_set, c.char_set - q.char_set
    out += [
        max((char_index.idf_of(x) for x in qx), default=0.0),
        max((char_index.idf_of(x) for x in cx), default=0.0),
        max((word_index.idf_of(x) for x in qw - cw), default=0.0),
        max((word_index.idf_of(x) for x in cw - qw), default=0.0),
    ]
    return out


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
            top - s_comb[i],
            best_other,
            s_comb[i] - best_other,
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
            float(query.chars == c.chars),
            float(q_pron != _PRONOUNS.findall(c.chars)),
            *_extra(query, c, char_index, word_index),
        )
    return out
