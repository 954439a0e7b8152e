"""Evaluation of a classifier on held-back examples, and the "no worse" rule for replacing a model."""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from knowledge.classifier import Example, Model

NONE = "<none>"  # stands for "no label" in single-label metrics


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def single_label_metrics(gold: Sequence[str], pred: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 over the gold labels (NONE included only if it occurs in gold)."""
    n = len(gold)
    labels = sorted(set(gold))
    per: dict[str, float] = {}
    for lab in labels:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == lab and p == lab)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if g != lab and p == lab)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == lab and p != lab)
        per[lab] = _f1(tp, fp, fn)
    correct = sum(1 for g, p in zip(gold, pred, strict=True) if g == p)
    return {
        "accuracy": correct / n if n else 0.0,
        "macro_f1": sum(per.values()) / len(per) if per else 0.0,
        "per_label_f1": per,
    }


def multi_label_metrics(gold: Sequence[set[str]], pred: Sequence[set[str]]) -> dict[str, float]:
    tp = sum(len(g & p) for g, p in zip(gold, pred, strict=True))
    fp = sum(len(p - g) for g, p in zip(gold, pred, strict=True))
    fn = sum(len(g - p) for g, p in zip(gold, pred, strict=True))
    exact = sum(1 for g, p in zip(gold, pred, strict=True) if g == p)
    return {"micro_f1": _f1(tp, fp, fn), "exact_match": exact / len(gold) if gold else 0.0}


def evaluate(
    model: Model,
    held_back: Iterable[Example],
    allowed: Collection[str] | None = None,
    threshold: float | None = None,
) -> dict[str, Any]:
    """Metrics of `model` on examples it was not trained on.

    accuracy / macro_f1: the top label against the gold label (a multi-label example counts as
    right when the top label is one of its labels; "no label" is a class of its own when it
    occurs). micro_f1 / exact_match: label sets at the threshold. predict_per_s: batch speed.
    """
    examples = [ex for ex in held_back if ex.text and ex.text.strip()]
    if not examples:
        raise ValueError("no held-back examples to evaluate on")
    texts = [ex.text for ex in examples]
    started = time.perf_counter()
    top = model.predict_top(texts, allowed=allowed, threshold=threshold)
    elapsed = time.perf_counter() - started
    gold1: list[str] = []
    pred1: list[str] = []
    for ex, p in zip(examples, top, strict=True):
        labels = [lab for lab in ex.labels if allowed is None or lab in allowed]
        gold = p if p is not None and p in labels else (labels[0] if labels else NONE)
        gold1.append(gold)
        pred1.append(p if p is not None else NONE)
    sets = model.predict(texts, threshold=threshold, allowed=allowed)
    out = single_label_metrics(gold1, pred1)
    out.update(multi_label_metrics([set(ex.labels) for ex in examples], [set(s) for s in sets]))
    out["n"] = len(examples)
    out["predict_s"] = round(elapsed, 4)
    out["predict_per_s"] = len(examples) / elapsed if elapsed > 0 else float("inf")
    out["model_version"] = model.version
    return out


def is_no_worse(
    new: Mapping[str, Any], old: Mapping[str, Any], keys: Sequence[str] = ("macro_f1", "accuracy"),
    tolerance: float = 0.0,
) -> bool:
    """True when `new` is at least as good as `old` on every key (within `tolerance`)."""
    return all(float(new[k]) >= float(old[k]) - tolerance for k in keys)
