"""Held-out decisions → probabilities and selection scores for the linear classifier's voters.

Pure array functions: Platt's sigmoids, softmax, the score that picks settings and voter weights,
and the view of held-out rows that a model trained without them would have.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(np.clip(z, -40.0, 40.0)))


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def unseen_dropped(Xte: sp.csr_matrix, Xtr: sp.csr_matrix) -> sp.csr_matrix:
    """Held-out rows as a model trained on Xtr alone would see them: features it never saw dropped
    and rows L2-normalised again (the feature space knows every text, a deployed model does not).
    Without this, held-out decisions are too small for texts with new words, which skews the sigmoids."""
    seen = np.zeros(Xtr.shape[1], dtype=bool)
    seen[Xtr.indices] = True
    out = Xte.copy()
    out.data = np.where(seen[out.indices], out.data, 0).astype(out.data.dtype)
    norms = np.sqrt(np.asarray(out.multiply(out).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    out.data /= np.repeat(norms, np.diff(out.indptr)).astype(out.data.dtype)
    return out


def platt(d: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt's sigmoid with his target smoothing (robust when one side is tiny or separable).

    Soft targets are expressed as each point appearing once as positive (weight t) and once as
    negative (weight 1 - t); a nearly unregularised logistic regression then fits the sigmoid.
    """
    n_pos = float(y.sum())
    n_neg = float(len(y) - n_pos)
    t = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    x = np.concatenate([d, d]).reshape(-1, 1)
    target = np.concatenate([np.ones(len(d)), np.zeros(len(d))])
    weight = np.concatenate([t, 1 - t])
    from sklearn.linear_model import LogisticRegression  # training only

    lr = LogisticRegression(C=1e4, max_iter=1000).fit(x, target, sample_weight=weight)
    return -float(lr.coef_[0, 0]), -float(lr.intercept_[0])


def score(D: np.ndarray, Y: np.ndarray) -> float:
    """Selection score from out-of-fold decisions: mean of top-1 accuracy and macro-F1 of argmax."""
    has = Y.sum(axis=1) > 0
    if not has.any():
        return 0.0
    pred = D[has].argmax(axis=1)
    top1 = Y[has][np.arange(has.sum()), pred].mean()
    f1s = []
    for j in range(Y.shape[1]):
        tp = float(((pred == j) & (Y[has][:, j] == 1)).sum())
        fp = float(((pred == j) & (Y[has][:, j] == 0)).sum())
        fn = float(((pred != j) & (Y[has][:, j] == 1)).sum())
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(0.5 * top1 + 0.5 * np.mean(f1s))


def platt_all(D: np.ndarray, Y: np.ndarray, scored: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each label's sigmoid (a, b) from its held-out decisions (the `scored` rows of D)."""
    fits = [platt(D[scored, j], Y[scored, j]) for j in range(Y.shape[1])]
    return np.array([p[0] for p in fits]), np.array([p[1] for p in fits])
