"""Interest / intent classifier: jieba words + character n-grams, calibrated one-vs-rest linear SVMs.

Multi-label: each label has its own probability, so a text can carry several labels or none
("no interest" is a real outcome: chit-chat scores low everywhere). Labels without labelled
examples fall back to operators' seed keywords (cold start).

    preload()                                   # once per process: jieba's dictionary
    model = train(examples, labels_allowed, seed_keywords=..., progress=cb)
    model.predict_proba(["这款口红有货吗"])       # [{"美妆": 0.93, "数码": 0.01, ...}]
    model.predict(texts, threshold=0.5)          # [["美妆"], [], ...]
    blob = model.to_bytes(); Model.from_bytes(blob)
    evaluate(model, held_back)                   # {"accuracy": ..., "macro_f1": ...}
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from knowledge.classify_features import FeatureSpace
from knowledge.classify_keywords import KeywordRules
from knowledge.classify_linear import LinearHead, default_grid, train_head
from knowledge.classify_metrics import evaluate, is_no_worse
from knowledge.classify_store import dump_model, load_model
from knowledge.classify_text import is_empty, preload

__all__ = [
    "Example", "Model", "TrainingError", "UnknownLabelError", "evaluate", "is_no_worse",
    "preload", "train", "filter_labels",
]

Progress = Callable[[float, str], None]
DEFAULT_THRESHOLD = 0.5


class TrainingError(ValueError):
    """The examples cannot produce a model (nothing to learn from)."""


class UnknownLabelError(ValueError):
    def __init__(self, label: str, index: int) -> None:
        super().__init__(f"example {index}: label {label!r} is not one of the allowed labels")
        self.label = label
        self.index = index


@dataclass(frozen=True)
class Example:
    """A text and its labels; no labels means the text is about none of them (e.g. chit-chat)."""

    text: str
    labels: tuple[str, ...] = ()
    id: str | None = field(default=None, compare=False)

    @classmethod
    def of(cls, text: str, label: str | Sequence[str] | None) -> Example:
        if label is None:
            return cls(text, ())
        if isinstance(label, str):
            return cls(text, (label,))
        return cls(text, tuple(label))


class Model:
    """A trained classifier. Immutable; thread-safe for prediction."""

    def __init__(
        self,
        labels: Sequence[str],
        features: FeatureSpace | None,
        head: LinearHead | None,
        head_labels: Sequence[str],
        rules: KeywordRules | None,
        metadata: dict,
    ) -> None:
        self.labels = tuple(labels)
        self.features = features
        self.head = head
        self.head_labels = tuple(head_labels)
        self.rules = rules
        self.metadata = metadata
        self.version: str = metadata["version"]
        self.threshold: float = float(metadata.get("threshold", DEFAULT_THRESHOLD))
        # Open world: the model has seen texts with no label, so "none" is a prediction it can make.
        self.open_world: bool = bool(metadata.get("open_world", False))
        idx = {lab: i for i, lab in enumerate(self.labels)}
        self._head_cols = np.array([idx[lab] for lab in self.head_labels], dtype=int)
        rule_labels = [lab for lab in (rules.labels if rules else ()) if lab not in set(self.head_labels)]
        self._rule_labels = rule_labels
        self._rule_src = np.array([rules.labels.index(lab) for lab in rule_labels], dtype=int) if rules else None
        self._rule_cols = np.array([idx[lab] for lab in rule_labels], dtype=int)

    # -- prediction ---------------------------------------------------------------------------
    def proba_matrix(self, texts: Sequence[str]) -> np.ndarray:
        """(n, len(self.labels)) probabilities; rows of empty texts are all zero."""
        P = np.zeros((len(texts), len(self.labels)))
        keep = [i for i, t in enumerate(texts) if not is_empty(t)]
        if not keep:
            return P
        sub = [texts[i] for i in keep]
        if self.head is not None and self.features is not None:
            P[np.ix_(keep, self._head_cols)] = self.head.proba(self.features.transform(sub))
        if self.rules is not None and len(self._rule_cols):
            P[np.ix_(keep, self._rule_cols)] = self.rules.proba(sub)[:, self._rule_src]
        return P

    def predict_proba(
        self, texts: Sequence[str], allowed: Collection[str] | None = None
    ) -> list[dict[str, float]]:
        """One dict per text, label → probability; {} for an empty text (nothing to classify).

        `allowed` drops labels the caller no longer has (e.g. a tag deleted since training).
        """
        P = self.proba_matrix(texts)
        cols = self._cols(allowed)
        out: list[dict[str, float]] = []
        for i, t in enumerate(texts):
            out.append({} if is_empty(t) else {self.labels[j]: float(P[i, j]) for j in cols})
        return out

    def predict(
        self, texts: Sequence[str], threshold: float | None = None, allowed: Collection[str] | None = None
    ) -> list[list[str]]:
        """Labels at or above the threshold, most probable first; [] means none applies."""
        th = self.threshold if threshold is None else threshold
        P = self.proba_matrix(texts)
        cols = self._cols(allowed)
        out = []
        for row in P:
            hits = [j for j in cols if row[j] >= th]
            out.append([self.labels[j] for j in sorted(hits, key=lambda j: -row[j])])
        return out

    def predict_top(
        self, texts: Sequence[str], allowed: Collection[str] | None = None, threshold: float | None = None
    ) -> list[str | None]:
        """The single most probable label per text; None for empty texts, and (for an open-world
        model, or when a threshold is given) when even the best label is below the threshold."""
        return [label for label, _p in self.predict_top_p(texts, allowed, threshold)]

    def predict_top_p(
        self, texts: Sequence[str], allowed: Collection[str] | None = None, threshold: float | None = None
    ) -> list[tuple[str | None, float]]:
        """predict_top with the winning label's probability, from one pass over the model."""
        P = self.proba_matrix(texts)
        cols = np.array(self._cols(allowed), dtype=int)
        th = threshold if threshold is not None else (self.threshold if self.open_world else None)
        out: list[tuple[str | None, float]] = []
        for i, t in enumerate(texts):
            if is_empty(t) or not len(cols):
                out.append((None, 0.0))
                continue
            j = cols[int(np.argmax(P[i, cols]))]
            p = float(P[i, j])
            out.append((None, p) if th is not None and p < th else (self.labels[j], p))
        return out

    def _cols(self, allowed: Collection[str] | None) -> list[int]:
        if allowed is None:
            return list(range(len(self.labels)))
        return [j for j, lab in enumerate(self.labels) if lab in allowed]

    # -- storage ------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        return dump_model(self)

    @classmethod
    def from_bytes(cls, blob: bytes) -> Model:
        return load_model(blob, cls)

    def __repr__(self) -> str:
        return f"Model(version={self.version!r}, labels={len(self.labels)}, kind={self.metadata.get('kind')!r})"


def filter_labels(probas: Iterable[Mapping[str, float]], allowed: Collection[str]) -> list[dict[str, float]]:
    """Drop labels that no longer exist from predict_proba() output."""
    return [{k: v for k, v in p.items() if k in allowed} for p in probas]


def train(
    examples: Iterable[Example | tuple[str, str | Sequence[str] | None]],
    labels_allowed: Collection[str],
    progress: Progress | None = None,
    *,
    seed_keywords: Mapping[str, Sequence[str]] | None = None,
    unknown: str = "error",
    min_examples: int = 3,
    grid: Sequence[tuple[float, str | None]] | None = None,
    n_jobs: int = 2,
    char_max_n: int = 3,
    threshold: float = DEFAULT_THRESHOLD,
) -> Model:
    """Train on labelled examples; labels with fewer than `min_examples` fall back to seed keywords.

    unknown="error" raises UnknownLabelError for a label outside labels_allowed; "drop" removes
    that label from the example (a deleted tag's old examples stay usable as the rest of their labels).
    Seed keywords are also added as short training examples of their label. `grid` lists the
    (C, class_weight) settings to cross-validate; by default chosen by data size.
    """
    started = time.perf_counter()
    report: Progress = progress or (lambda _f, _m: None)
    allowed = set(labels_allowed)
    if not allowed:
        raise TrainingError("no labels to train: define at least one tag or intent")
    preload()
    data: list[Example] = []
    skipped = 0
    for i, ex in enumerate(examples):
        ex = ex if isinstance(ex, Example) else Example.of(*ex)
        for lab in ex.labels:
            if lab not in allowed and unknown == "error":
                raise UnknownLabelError(lab, i)
        if is_empty(ex.text):
            skipped += 1
            continue
        data.append(Example(ex.text, tuple(sorted({lab for lab in ex.labels if lab in allowed}))))
    keywords = {k: v for k, v in (seed_keywords or {}).items() if k in allowed}
    rules = KeywordRules(keywords) if keywords else None
    counts = Counter(lab for ex in data for lab in ex.labels)
    head_labels = sorted(lab for lab in allowed if counts[lab] >= min_examples)
    for lab, kws in (rules.keywords.items() if rules else ()):
        data.extend(Example(k, (lab,)) for k in kws)
    n_none = sum(1 for ex in data if not ex.labels)
    # A binary model per label needs negatives: other labels' examples or texts with no label.
    trainable = len(head_labels) >= 2 or (len(head_labels) == 1 and n_none > 0)
    if not trainable and rules is None:
        raise TrainingError(
            f"not enough examples: need at least {min_examples} examples for two labels "
            "(or one label plus texts with no label), or seed keywords"
        )
    features = head = None
    if trainable:
        report(0.02, f"featurising {len(data)} texts")
        features = FeatureSpace.fit([ex.text for ex in data], char_max_n=char_max_n,
                                    min_df=1)
        X = features.transform([ex.text for ex in data])
        col = {lab: j for j, lab in enumerate(head_labels)}
        Y = np.zeros((len(data), len(head_labels)), dtype=np.int8)
        for i, ex in enumerate(data):
            for lab in ex.labels:
                if lab in col:
                    Y[i, col[lab]] = 1
        grid = tuple(grid) if grid else default_grid(len(data))
        report(0.1, f"training {len(head_labels)} labels on {X.shape[0]} texts, {X.shape[1]} features")
        head = train_head(X, Y, grid=grid, n_jobs=n_jobs,
                          progress=lambda f, m: report(0.1 + 0.85 * f, m))
    else:
        head_labels = []
    labels = sorted(set(head_labels) | set(rules.labels if rules else ()))
    now = datetime.now(UTC)
    digest = hashlib.sha256(repr((sorted(counts.items()), len(data), grid, labels)).encode()).hexdigest()[:8]
    metadata = {
        "version": f"{now:%Y%m%d%H%M%S}-{digest}",
        "kind": "linear" if head else "keywords",
        "created_at": now.isoformat(),
        "n_examples": len(data),
        "n_none": n_none,
        "skipped_empty": skipped,
        "label_counts": dict(sorted(counts.items())),
        "keyword_labels": [lab for lab in labels if lab not in head_labels],
        "untrained_labels": sorted(allowed - set(labels)),
        "open_world": n_none > 0 or head is None,
        "threshold": threshold,
        "C": head.C if head else None,
        "class_weight": head.class_weight if head else None,
        "nb_blend": head.blend if head else None,
        "plain_mix": round(head.mix, 4) if head else None,
        "train_s": round(time.perf_counter() - started, 3),
    }
    report(1.0, "done")
    return Model(labels, features, head, head_labels, rules, metadata)
