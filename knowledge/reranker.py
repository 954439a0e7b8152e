"""The learned reranker/calibrator: a boosted tree ensemble over pair features, stored as plain arrays.

It is trained with scikit-learn's HistGradientBoostingClassifier (monotone in the similarity features, so
"more similar" can never mean "less likely right"), then exported to flat node arrays: loading needs no
pickle and predicting 20 candidates walks all trees at once in a few vectorised numpy steps (~0.1 ms).
The decision thresholds of the bot travel in the same file, so model and thresholds never disagree.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from knowledge.dense import SEMANTIC_FEATURES, SEMANTIC_NAMES
from knowledge.retrieval_features import FEATURE_NAMES, MONOTONE

MODEL_FILE = "reranker.npz"  # lexical + semantic features
LEXICAL_MODEL_FILE = "reranker_lexical.npz"  # lexical features only: the retriever without an encoder
FULL_FEATURE_NAMES = FEATURE_NAMES + SEMANTIC_NAMES
FULL_MONOTONE = MONOTONE + tuple(sign for _, sign in SEMANTIC_FEATURES)


@dataclass(frozen=True)
class Thresholds:
    """Confidence cut-offs of the FAQ bot: answer at or above `answer`; offer a "您是想问…" list at or
    above `suggest`; hand off below."""

    answer: float
    suggest: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.suggest <= self.answer <= 1.0:
            raise ValueError(f"thresholds must satisfy 0 <= suggest <= answer <= 1, got {self}")


@dataclass
class TreeEnsemble:
    feature: np.ndarray  # int32, per node (leaves: 0)
    threshold: np.ndarray  # float32, go left when x <= threshold
    left: np.ndarray  # int32, global node index (leaves point to themselves)
    right: np.ndarray  # int32
    value: np.ndarray  # float64 leaf values (0 for inner nodes)
    roots: np.ndarray  # int32, root node index of each tree
    depth: int
    baseline: float
    thresholds: Thresholds
    feature_names: tuple[str, ...] = field(default=FEATURE_NAMES)
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def semantic(self) -> bool:
        """Whether the model reads the semantic features (a retriever with an encoder)."""
        return len(self.feature_names) > len(FEATURE_NAMES)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Match probability for each row of the feature matrix."""
        if x.shape[0] == 0:
            return np.zeros(0)
        x = np.asarray(x, dtype=np.float32)
        rows = np.arange(x.shape[0])[:, None]
        node = np.broadcast_to(self.roots, (x.shape[0], len(self.roots))).copy()
        for _ in range(self.depth):
            go_left = x[rows, self.feature[node]] <= self.threshold[node]
            node = np.where(go_left, self.left[node], self.right[node])
        raw = self.baseline + self.value[node].sum(axis=1)
        return 1.0 / (1.0 + np.exp(-raw))

    @classmethod
    def from_sklearn(cls, model: object, thresholds: Thresholds, meta: dict[str, object] | None = None,
                     feature_names: tuple[str, ...] = FEATURE_NAMES) -> TreeEnsemble:
        """Export a fitted binary HistGradientBoostingClassifier (numeric features, no NaN at predict time)."""
        feats, thr, lefts, rights, vals, roots = [], [], [], [], [], []
        offset, depth = 0, 0
        for (tree,) in model._predictors:  # type: ignore[attr-defined]
            nodes = tree.nodes
            n = len(nodes)
            own = np.arange(offset, offset + n, dtype=np.int64)
            leaf = nodes["is_leaf"].astype(bool)
            feats.append(np.where(leaf, 0, nodes["feature_idx"]))
            thr.append(np.where(leaf, np.inf, nodes["num_threshold"]))
            lefts.append(np.where(leaf, own, nodes["left"].astype(np.int64) + offset))
            rights.append(np.where(leaf, own, nodes["right"].astype(np.int64) + offset))
            vals.append(np.where(leaf, nodes["value"], 0.0))
            roots.append(offset)
            depth = max(depth, int(nodes["depth"].max()))
            offset += n
        return cls(
            feature=np.concatenate(feats).astype(np.int32),
            threshold=np.concatenate(thr).astype(np.float32),
            left=np.concatenate(lefts).astype(np.int32),
            right=np.concatenate(rights).astype(np.int32),
            value=np.concatenate(vals).astype(np.float64),
            roots=np.asarray(roots, dtype=np.int32),
            depth=depth,
            baseline=float(np.ravel(model._baseline_prediction)[0]),  # type: ignore[attr-defined]
            thresholds=thresholds,
            feature_names=feature_names,
            meta=dict(meta or {}),
        )

    def to_bytes(self) -> bytes:
        header = {
            "depth": self.depth,
            "baseline": self.baseline,
            "answer": self.thresholds.answer,
            "suggest": self.thresholds.suggest,
            "feature_names": list(self.feature_names),
            "meta": self.meta,
        }
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
            feature=self.feature,
            threshold=self.threshold,
            left=self.left,
            right=self.right,
            value=self.value,
            roots=self.roots,
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> TreeEnsemble:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            header = json.loads(z["header"].tobytes().decode())
            if tuple(header["feature_names"]) not in (FEATURE_NAMES, FULL_FEATURE_NAMES):
                raise ValueError("reranker model was trained on other features; retrain it (bench/train_reranker.py)")
            return cls(
                feature=z["feature"],
                threshold=z["threshold"],
                left=z["left"],
                right=z["right"],
                value=z["value"],
                roots=z["roots"],
                depth=int(header["depth"]),
                baseline=float(header["baseline"]),
                thresholds=Thresholds(float(header["answer"]), float(header["suggest"])),
                feature_names=tuple(header["feature_names"]),
                meta=header.get("meta", {}),
            )


def load_default(semantic: bool = False) -> TreeEnsemble:
    """A reranker shipped inside the package: knowledge/reranker.npz (with the semantic features) or
    knowledge/reranker_lexical.npz (for a retriever without an encoder)."""
    name = MODEL_FILE if semantic else LEXICAL_MODEL_FILE
    return TreeEnsemble.from_bytes(resources.files("knowledge").joinpath(name).read_bytes())
