"""Training the reranker/calibrator from (knowledge base, labelled queries) sets, with honest thresholds.

Each labelled query gives one row per lexical candidate (label: is it the expected entry). Thresholds are
picked on out-of-fold predictions (folds grouped by query) so the shipped cut-offs are not tuned on rows the
model has already memorised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from knowledge.encoder import Encoder
from knowledge.reranker import FULL_FEATURE_NAMES, FULL_MONOTONE, Thresholds, TreeEnsemble
from knowledge.retrieval_features import FEATURE_NAMES, MONOTONE
from knowledge.retriever import Retriever, exact_rows, with_exact_rule

Query = tuple[str, str | None]  # (text, expected entry id or None when the KB has no answer)

TARGET_PRECISION = 0.90
MAX_FALSE_ANSWER_RATE = 0.05  # used when no threshold reaches TARGET_PRECISION out of fold
GRID = np.round(np.arange(0.20, 0.96, 0.01), 2)


@dataclass
class PairSet:
    x: np.ndarray  # rows: candidates, columns: FEATURES
    y: np.ndarray  # bool: candidate is the expected entry
    group: np.ndarray  # query number of each row
    null: np.ndarray  # per query: expects no answer


def collect_pairs(retriever: Retriever, queries: Sequence[Query]) -> PairSet:
    xs: list[np.ndarray] = []
    ys: list[bool] = []
    groups: list[int] = []
    for qi, (text, expected) in enumerate(queries):
        idx, feats, _ = retriever.candidates(text)
        if len(idx) == 0:
            continue
        xs.append(feats)
        ys.extend(retriever.entry_ids[int(retriever.text_entry[i])] == expected for i in idx)
        groups.extend([qi] * len(idx))
    width = xs[0].shape[1] if xs else len(MONOTONE)
    return PairSet(
        np.vstack(xs) if xs else np.zeros((0, width), np.float32),
        np.asarray(ys, dtype=bool),
        np.asarray(groups, dtype=np.int64),
        np.asarray([exp is None for _, exp in queries], dtype=bool),
    )


def _classifier(monotone: tuple[int, ...] = MONOTONE):  # type: ignore[no-untyped-def]
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=300,
        learning_rate=0.05,
        max_leaf_nodes=15,
        max_depth=6,  # shallow trees: prediction cost grows with depth
        monotonic_cst=list(monotone),
        random_state=0,
    )


def top_per_query(prob: np.ndarray, pairs: PairSet) -> tuple[np.ndarray, np.ndarray]:
    """Per query: the highest probability and whether that candidate is the expected entry."""
    n = len(pairs.null)
    top = np.full(n, -1.0)
    right = np.zeros(n, dtype=bool)
    for p, y, g in zip(prob.tolist(), pairs.y.tolist(), pairs.group.tolist(), strict=True):
        if p > top[g]:
            top[g], right[g] = p, y
    return top, right


def choose_thresholds(top: np.ndarray, right: np.ndarray, null: np.ndarray) -> tuple[Thresholds, dict[str, float]]:
    """Smallest answer threshold whose precision reaches TARGET_PRECISION; when none does, the smallest
    whose false-answer rate on null queries is at most MAX_FALSE_ANSWER_RATE. Suggest at half of it."""
    stats = []
    for t in GRID:
        answered = top >= t
        precision = float((answered & right).sum() / max(answered.sum(), 1))
        far = float(answered[null].mean()) if null.any() else 0.0
        stats.append((float(t), precision, far))
    chosen = next((s for s in stats if s[1] >= TARGET_PRECISION and s[2] <= 0.10), None)
    if chosen is None:
        chosen = next((s for s in stats if s[2] <= MAX_FALSE_ANSWER_RATE), stats[-1])
    t, precision, far = chosen
    answered = top >= t
    coverage = float((answered & right)[~null].mean()) if (~null).any() else 0.0
    report = {"answer": t, "oof_precision": precision, "oof_false_answer_rate": far, "oof_coverage": coverage}
    return Thresholds(answer=t, suggest=round(t / 2, 2)), report


def train(
    datasets: Mapping[str, tuple[Sequence[Mapping[str, object]], Sequence[Query]]], folds: int = 5,
    encoder: Encoder | None = None,
) -> tuple[TreeEnsemble, dict[str, object]]:
    """Fit on all sets together; thresholds from grouped out-of-fold predictions. With an encoder, the
    model reads the semantic features too (knowledge/reranker.npz); without, the lexical ones."""
    from sklearn.model_selection import GroupKFold

    parts: list[PairSet] = []
    offset = 0
    for entries, queries in datasets.values():
        p = collect_pairs(Retriever.build(entries, encoder=encoder), queries)
        parts.append(PairSet(p.x, p.y, p.group + offset, p.null))
        offset += len(p.null)
    pairs = PairSet(
        np.vstack([p.x for p in parts]),
        np.concatenate([p.y for p in parts]),
        np.concatenate([p.group for p in parts]),
        np.concatenate([p.null for p in parts]),
    )
    # Verbatim rows are the retriever's rule's to score. The shared corpora label most of them as *other*
    # entries (duplicate questions); learning from them would teach the model that "identical" means "wrong".
    monotone, names = (FULL_MONOTONE, FULL_FEATURE_NAMES) if encoder is not None else (MONOTONE, FEATURE_NAMES)
    learn = ~exact_rows(pairs.x)
    oof = np.zeros(len(pairs.y))
    for tr, te in GroupKFold(folds).split(pairs.x, pairs.y, pairs.group):
        tr = tr[learn[tr]]
        oof[te] = _classifier(monotone).fit(pairs.x[tr], pairs.y[tr]).predict_proba(pairs.x[te])[:, 1]
    top, right = top_per_query(with_exact_rule(oof, pairs.x), pairs)  # thresholds for what the bot really does
    thresholds, report = choose_thresholds(top, right, pairs.null)
    model = _classifier(monotone).fit(pairs.x[learn], pairs.y[learn])
    meta = {"sets": list(datasets), "rows": int(len(pairs.y)), "folds": folds, **report,
            "encoder": encoder.name if encoder is not None else None}
    return TreeEnsemble.from_sklearn(model, thresholds, meta, names), meta
