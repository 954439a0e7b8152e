"""Confidence per knowledge base: the FAQ bot's answer and suggest thresholds computed from the knowledge
base it serves, toward an operator-set target precision.

A brand's FAQ has no labelled fan questions, so the calibration makes its own from what the KB has:
- answerable probes: its questions and paraphrases rewritten the way fans write (dropped characters, typos,
  colloquial words, keywords only, traditional characters, emoji); the expected entry is known;
- unanswerable probes: the same rewrites searched with their own entry left out — a question that is
  close to other entries but that the KB cannot answer, the hardest kind of question to stay quiet on;
- the hub's own feedback when there is some: answers that helped (positives), answers the fan called
  useless (negatives), entries agents chose for questions (positives).
The answer threshold is the lowest confidence at which the estimated precision reaches the target;
the suggest threshold keeps the "您是想问…" list for nearly every probe whose entry is in the top 3.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from knowledge.reranker import Thresholds
from knowledge.retriever import MAX_SUGGESTIONS, Retriever

DEFAULT_TARGET_PRECISION = 0.90
NULL_SHARE = 0.3  # assumed share of fan questions the KB cannot answer (brand FAQs see ~25%; kept above it)
MAX_WRONG_RATE = 0.05  # wrong answers over all questions, at the assumed null share
SUGGEST_KEEP = 0.99  # the suggest threshold keeps the list for this share of probes with the entry in the top 3
SUGGEST_MAX = 0.05  # on beauty, a list from this confidence holds the right entry for ~86% of answerable questions
MIN_ANSWER = 0.30  # never answer below this confidence, whatever the probes say
MAX_ENTRIES = 150  # entries probed (a random sample on large KBs): the cost of a rebuild stays bounded
PROBES = 300  # rewrites probed in all: a small FAQ gets more rewrites per entry
CONTRAST_SHARE = 1.0  # share of probed entries that also get a near miss with another meaning (unanswerable)
_COLLOQUIAL = (("如何", "咋"), ("怎么", "咋"), ("什么", "啥"), ("是否", "是不是"), ("可以", "能"), ("吗", "不"),
               ("请问", ""), ("您", "你"), ("哪里", "哪儿"), ("多少钱", "几块钱"))
_PREFIXES = ("请问", "你好，", "亲，", "问下", "我想问一下")
_SUFFIXES = ("？？", "呀", "啊", "😅", "🙏")
# Minimal pairs with another meaning ("怎么打开X" / "怎么关闭X"): the near misses a KB cannot answer.
_OPPOSITES = (("打开", "关闭"), ("开启", "关闭"), ("增加", "减少"), ("上传", "下载"), ("买", "卖"), ("男", "女"),
              ("大", "小"), ("多", "少"), ("前", "后"), ("早", "晚"), ("新", "旧"), ("进", "出"), ("长", "短"),
              ("高", "低"), ("能", "不能"), ("可以", "不可以"), ("有", "没有"), ("会", "不会"), ("收", "发"))
_DIGIT = re.compile(r"\d+")
_PUNCT = re.compile(r"[\s，。？！,.?!、；;：:“”\"'（）()]+")


@dataclass(frozen=True, slots=True)
class Feedback:
    """A fan's question the hub has an outcome for: `entry_id` helped (ok) or was useless (not ok)."""

    text: str
    entry_id: str
    ok: bool


def perturb(text: str, rng: random.Random, alphabet: str) -> list[str]:
    """Fan-style rewrites of a KB question (each different from the question after normalisation)."""
    core = _PUNCT.sub("", text)
    out: list[str] = []
    if len(core) >= 5:  # drop one or two characters
        chars = list(core)
        for _ in range(1 + (len(core) >= 9)):
            del chars[rng.randrange(len(chars))]
        out.append("".join(chars))
    if len(core) >= 4 and alphabet:  # a typo: one character replaced
        i = rng.randrange(len(core))
        out.append(core[:i] + rng.choice(alphabet) + core[i + 1 :])
    casual = core
    for a, b in _COLLOQUIAL:
        if a in casual and rng.random() < 0.7:
            casual = casual.replace(a, b)
    casual = rng.choice(_PREFIXES) + casual + rng.choice(_SUFFIXES)
    out.append(casual)
    if len(core) >= 8:  # keywords only: the middle of the question, as fans type it
        start = rng.randrange(0, len(core) // 3)
        out.append(core[start : start + max(4, len(core) // 2)])
    return [o for o in dict.fromkeys(out) if o and o != core]


def contrast(text: str, words: Sequence[str], rng: random.Random) -> list[str]:
    """Rewrites of a KB question that ask something else: an opposite, another number, or one of its words
    replaced by a word of another entry. The KB holds no answer for them (searched with the entry in)."""
    core = _PUNCT.sub("", text)
    out: list[str] = []
    for a, b in _OPPOSITES:
        if b in core:
            out.append(core.replace(b, a, 1))
            break
        if a in core:
            out.append(core.replace(a, b, 1))
            break
    digits = _DIGIT.search(core)
    if digits:
        out.append(core[: digits.start()] + str(int(digits.group()) + 1) + core[digits.end() :])
    mine = [w for w in words if len(w) >= 2 and w in core]
    if mine and words:
        out.append(core.replace(rng.choice(mine), rng.choice(words), 1))
    return [o for o in dict.fromkeys(out) if o != core]


@dataclass
class _Outcome:
    top: float  # confidence of the top hit (-1: no hit)
    right: bool  # top hit is the expected entry
    in_top: bool  # expected entry among the first MAX_SUGGESTIONS hits


def _probe(retriever: Retriever, text: str, expected: int | None, exclude: int | None,
           qv: np.ndarray | None) -> _Outcome:
    hits = retriever.search(text, k=MAX_SUGGESTIONS, exclude=exclude, qv=qv)
    if not hits:
        return _Outcome(-1.0, False, False)
    want = retriever.entry_ids[expected] if expected is not None else None
    return _Outcome(hits[0].confidence, hits[0].entry_id == want, any(h.entry_id == want for h in hits))


def choose(pos: Sequence[_Outcome], neg: Sequence[_Outcome], target: float,
           null_share: float = NULL_SHARE) -> tuple[Thresholds, dict[str, float]]:
    """The lowest answer threshold whose estimated precision reaches `target` (and whose wrong answers stay
    under MAX_WRONG_RATE); the suggest threshold below it."""
    top_p = np.array([o.top for o in pos]) if pos else np.zeros(0)
    right = np.array([o.right for o in pos], dtype=bool)
    top_n = np.array([o.top for o in neg]) if neg else np.zeros(0)
    grid = np.unique(np.round(np.concatenate([top_p, top_n, [MIN_ANSWER, 1.0]]), 4))
    chosen, stats = 1.0, {"precision": 1.0, "coverage": 0.0, "false_answer_rate": 0.0}
    for t in grid[grid >= MIN_ANSWER]:
        r = float((right & (top_p >= t)).mean()) if len(top_p) else 0.0
        w = float((~right & (top_p >= t)).mean()) if len(top_p) else 0.0
        a = float((top_n >= t).mean()) if len(top_n) else 0.0
        answered = (1 - null_share) * (r + w) + null_share * a
        precision = (1 - null_share) * r / answered if answered else 1.0
        wrong = (1 - null_share) * w + null_share * a
        if precision >= target and wrong <= MAX_WRONG_RATE:
            chosen, stats = float(t), {"precision": precision, "coverage": r, "false_answer_rate": a}
            break
    listed = np.array([o.top for o in pos if o.in_top])
    suggest = float(np.quantile(listed, 1 - SUGGEST_KEEP)) if len(listed) else chosen
    # Rewrites are easier than fans' questions: never ask for more than SUGGEST_MAX before offering the list.
    suggest = round(min(max(suggest, 0.0), SUGGEST_MAX, chosen), 4)
    return Thresholds(answer=round(chosen, 4), suggest=suggest), {k: round(v, 4) for k, v in stats.items()}


def calibrate(retriever: Retriever, target: float = DEFAULT_TARGET_PRECISION,
              feedback: Sequence[Feedback] = (), seed: int = 0, max_entries: int = MAX_ENTRIES,
              null_share: float = NULL_SHARE) -> tuple[Thresholds, dict[str, object]]:
    """Thresholds for this retriever (in its current mode, semantic or lexical) and a report."""
    rng = random.Random(seed)
    n = len(retriever.entry_ids)
    sample = rng.sample(range(n), min(n, max_entries))
    alphabet = "".join(sorted({ch for t in retriever.texts for ch in t}))
    firsts = {int(e): t for t, e in reversed(list(enumerate(retriever.text_entry.tolist())))}
    pos: list[_Outcome] = []
    neg: list[_Outcome] = []
    per_entry = max(2, -(-PROBES // max(len(sample), 1)))
    probes: list[tuple[str, int]] = []
    contrasts: list[str] = []
    content_words = sorted({w for ws in retriever.text_words for w in ws if len(w) >= 2})
    known = set(retriever.texts)
    for e in sample:
        sources = [retriever.texts[t] for t in range(int(retriever._text_start[e]), int(retriever._text_end[e]))]
        if not sources and e in firsts:
            sources = [retriever.texts[firsts[e]]]
        rewrites: list[str] = []
        for _ in range(4):
            for src in sources:
                rewrites.extend(perturb(src, rng, alphabet))
        unique = list(dict.fromkeys(rewrites))
        rng.shuffle(unique)
        probes += [(text, e) for text in unique[:per_entry]]
        if sources and rng.random() < CONTRAST_SHARE:  # a near miss that is another entry's question is no miss
            contrasts += [c for c in contrast(rng.choice(sources), content_words, rng) if c not in known][:1]
    vectors = retriever.query_vectors([text for text, _ in probes] + contrasts)
    for i, (text, e) in enumerate(probes):
        qv = vectors[i] if vectors is not None else None
        pos.append(_probe(retriever, text, e, None, qv))
        neg.append(_probe(retriever, text, None, e, qv))
    for j, text in enumerate(contrasts):
        qv = vectors[len(probes) + j] if vectors is not None else None
        neg.append(_probe(retriever, text, None, None, qv))
    index = {eid: i for i, eid in enumerate(retriever.entry_ids)}
    used = 0
    for fb in feedback:
        e = index.get(fb.entry_id)
        if e is None or not fb.text.strip():
            continue
        used += 1
        if fb.ok:
            pos.append(_probe(retriever, fb.text, e, None, None))
        else:  # the answer with this entry was useless: searched without it, any answer counts as wrong
            neg.append(_probe(retriever, fb.text, None, e, None))
    thresholds, stats = choose(pos, neg, target, null_share)
    # Never less careful than the model's own cut-off, chosen out of fold on its training sets: rewrites of a
    # KB's questions are milder than the lexically close distractors of lcqmc and oppo.
    shipped = retriever.reranker.thresholds
    thresholds = Thresholds(max(thresholds.answer, shipped.answer), min(thresholds.suggest, shipped.answer))
    report: dict[str, object] = {
        "mode": retriever.mode, "target_precision": target, "answer": thresholds.answer,
        "suggest": thresholds.suggest, "probes": len(pos), "unanswerable_probes": len(neg), "feedback": used,
        **{f"estimated_{k}": v for k, v in stats.items()},
    }
    return thresholds, report


def calibrate_all(retriever: Retriever, target: float = DEFAULT_TARGET_PRECISION,
                  feedback: Sequence[Feedback] = (), **kw: object) -> dict[str, object]:
    """Calibrate every mode the retriever can run in (semantic, and lexical for when the encoder is
    missing) and store the thresholds on it; returns the reports by mode."""
    reports: dict[str, object] = {}
    views = [retriever] + ([retriever.lexical_view()] if retriever.semantic else [])
    for view in views:
        thresholds, report = calibrate(view, target, feedback, **kw)  # type: ignore[arg-type]
        retriever.calibrated[view.mode] = thresholds
        reports[view.mode] = report
    retriever.calibration_report = reports
    return reports
