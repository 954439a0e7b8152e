"""One-vs-rest linear SVMs with Platt-calibrated probabilities, C chosen by cross-validation.

One binary model per label, so a text can have several labels and none at all ("no interest" is
simply every label's probability being low). Out-of-fold decision values serve twice: to pick C
and class weighting, and to fit each label's sigmoid, so calibration never sees its own training fit.

On large data two more voters join, their weights (possibly 0) chosen on the same hold-out: a plain
SVM on the unscaled features with balanced class weights (it errs differently from the NB-scaled one),
and, for single-label data, a complement naive Bayes (Rennie et al. 2003) whose softmax is blended in.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from knowledge.classify_calibrate import platt_all, score, sigmoid, softmax, unseen_dropped

Progress = Callable[[float, str], None]

DEFAULT_GRID: tuple[tuple[float, str | None], ...] = ((0.3, None), (0.6, None), (0.6, "balanced"))
# Above this many texts the choice hardly matters (measured on toutiao: ±0.1 point) and each
# grid point costs folds+1 fits, so large sets use one setting and CV only for calibration.
LARGE = 10_000
LARGE_GRID: tuple[tuple[float, str | None], ...] = ((0.5, None),)
# Blend weights of the naive Bayes voter tried on the folds. Cross-validated on the train files:
# toutiao (3-fold) +0.4 accuracy / +0.4 macro-F1 at 0.5 (every fold), SMP2017 (5-fold) -0.3 at any weight.
BLENDS = (0.0, 0.25, 0.5)
NB_ALPHA = 0.1
# The plain SVM voter. Cross-validated on toutiao-train (3-fold, with NB-SVM + naive Bayes): +0.4
# accuracy / +0.5 macro-F1 at equal weight; balanced beats unweighted (+0.2) and C=0.5 beats 0.25.
# tol 1e-3 instead of liblinear's 1e-4: same predictions on toutiao, 40% less training time.
PLAIN_C, PLAIN_CW, PLAIN_TOL = 0.5, "balanced", 1e-3
MIXES = (0.0, 1 / 3, 0.5)


def default_grid(n_texts: int) -> tuple[tuple[float, str | None], ...]:
    return LARGE_GRID if n_texts > LARGE else DEFAULT_GRID


@dataclass
class Calibrated:
    """One-vs-rest linear scores with a sigmoid per label: p = 1 / (1 + exp(a * (X·w + b) + c))."""

    coef: np.ndarray  # (n_labels, n_features) float32
    intercept: np.ndarray  # (n_labels,)
    platt_a: np.ndarray  # (n_labels,)
    platt_b: np.ndarray  # (n_labels,)


@dataclass
class LinearHead:
    """Per-label probabilities from the main SVM, optionally averaged with the plain SVM voter
    (weight `mix`) and blended with the naive Bayes softmax (weight `blend`):
    p = (1 - blend) * ((1 - mix) * main + mix * plain) + blend * softmax(X·nb_coef)."""

    coef: np.ndarray  # (n_labels, n_features) float32
    intercept: np.ndarray  # (n_labels,)
    platt_a: np.ndarray  # (n_labels,)
    platt_b: np.ndarray  # (n_labels,)
    C: float
    class_weight: str | None
    nb_coef: np.ndarray | None = None  # (n_labels, n_features) complement NB weights, if blended
    blend: float = 0.0
    plain: Calibrated | None = None
    mix: float = 0.0

    def __post_init__(self) -> None:
        if self.nb_coef is None or not self.blend:
            self.nb_coef, self.blend = None, 0.0
        if self.plain is None or not self.mix:
            self.plain, self.mix = None, 0.0
        # (features, columns) in C order: csr @ dense would otherwise copy the whole matrix each call.
        # One product gives every voter's scores.
        blocks = [self.coef] + ([self.plain.coef] if self.plain else []) + (
            [self.nb_coef] if self.nb_coef is not None else [])
        self._wT = np.ascontiguousarray(np.vstack(blocks).T)

    def proba(self, X: sp.csr_matrix) -> np.ndarray:
        S = np.asarray(X @ self._wT)
        k = len(self.intercept)
        p = sigmoid(self.platt_a * (S[:, :k] + self.intercept) + self.platt_b)
        if self.plain is not None:
            q = self.plain
            p = (1 - self.mix) * p + self.mix * sigmoid(q.platt_a * (S[:, k : 2 * k] + q.intercept) + q.platt_b)
        return p if self.nb_coef is None else (1 - self.blend) * p + self.blend * softmax(S[:, -k:])


def _cnb_weights(X: sp.csr_matrix, Y: np.ndarray, alpha: float = NB_ALPHA) -> np.ndarray:
    """(labels, features) complement naive Bayes weights, as scikit-learn's ComplementNB (norm=False):
    minus the log of each feature's smoothed share among the texts *without* the label."""
    per_label = np.asarray((sp.csr_matrix(Y.T.astype(np.float32)) @ X).todense())
    comp = np.asarray(X.sum(axis=0)).ravel()[None, :] - per_label + alpha
    return (np.log(comp.sum(axis=1, keepdims=True)) - np.log(comp)).astype(np.float32)


def _nb_ratios(X: sp.csr_matrix, Y: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """(labels, features) log-count ratios of feature presence, label vs rest (Wang & Manning 2012)."""
    B = X.copy()
    B.data[:] = 1.0
    pos = np.asarray((sp.csr_matrix(Y.T.astype(np.float32)) @ B).todense()) + alpha
    neg = np.asarray(B.sum(axis=0)).ravel()[None, :] - pos + 2 * alpha
    return np.log(pos / pos.sum(axis=1, keepdims=True)) - np.log(neg / neg.sum(axis=1, keepdims=True))


def _fit_ovr(
    X: sp.csr_matrix, Y: np.ndarray, C: float, class_weight: str | None, nb: bool = False, tol: float = 1e-4
) -> tuple:
    """With nb (NB-SVM), each label's SVM sees features scaled by that label's log-count ratios;
    the scaling is folded into its weights, so prediction is a plain X @ W."""
    from sklearn.exceptions import ConvergenceWarning  # training only: predicting needs numpy alone
    from sklearn.svm import LinearSVC

    coefs, intercepts = [], []
    R = _nb_ratios(X, Y) if nb else np.ones((Y.shape[1], X.shape[1]), dtype=np.float32)
    for j in range(Y.shape[1]):
        y = Y[:, j]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            m = LinearSVC(C=C, class_weight=class_weight, tol=tol, max_iter=3000, dual=True, random_state=0)
            m.fit(X @ sp.diags(R[j]), y)
        coefs.append((m.coef_[0] * R[j]).astype(np.float32))
        intercepts.append(float(m.intercept_[0]))
    return np.vstack(coefs), np.asarray(intercepts)


def _fold_decisions(X, Y, train_idx, test_idx, C, cw, nb, tol=1e-4) -> tuple[np.ndarray, np.ndarray]:
    Xtr = X[train_idx]
    coef, b = _fit_ovr(Xtr, Y[train_idx], C, cw, nb, tol)
    return test_idx, np.asarray(unseen_dropped(X[test_idx], Xtr) @ coef.T) + b


def _choose_weights(P: np.ndarray, Q: np.ndarray | None, X, Y, splits, scored) -> tuple[float, float]:
    """(mix, blend): weights of the plain SVM voter (probabilities Q) and of the NB voter by the fold
    score; a voter keeps weight 0 unless it helps. NB only for single-label data: its softmax sums
    to one, so it cannot say "none of them" or "several"."""
    mixes = MIXES if Q is not None else (0.0,)
    blends = BLENDS
    if Y.shape[1] < 2 or (Y.sum(axis=1) != 1).any():
        blends = (0.0,)
    N = np.zeros(Y.shape)
    if len(blends) > 1:
        for tr, te in splits:
            N[te] = softmax(np.asarray(unseen_dropped(X[te], X[tr]) @ _cnb_weights(X[tr], Y[tr]).T))
    s0 = score(P[scored], Y[scored])
    best = (s0, 0.0, 0.0)
    for m in mixes:
        M = P if Q is None or not m else (1 - m) * P + m * Q
        for w in blends:
            s = score(((1 - w) * M + w * N)[scored], Y[scored])
            if s > best[0] + 1e-3:
                best = (s, m, w)
    return best[1], best[2]


def train_head(
    X: sp.csr_matrix,
    Y: np.ndarray,
    grid: Sequence[tuple[float, str | None]] = DEFAULT_GRID,
    folds: int = 3,
    n_jobs: int = 2,
    seed: int = 0,
    progress: Progress | None = None,
) -> LinearHead:
    """Fit the head on X (n, f) and the 0/1 label matrix Y (n, labels)."""
    from joblib import Parallel, delayed  # training only (scikit-learn's joblib): see _fit_ovr

    n = X.shape[0]
    order = np.random.default_rng(seed).permutation(n)
    # Plenty of data: one 25% hold-out is enough to fit the sigmoids, at a third of the cost.
    parts = [order[: n // 4]] if n > LARGE else list(np.array_split(order, max(2, min(folds, n))))
    splits = [(np.sort(np.setdiff1d(order, part)), np.sort(part)) for part in parts]
    scored = np.zeros(n, dtype=bool)
    for part in parts:
        scored[part] = True
    best: tuple[float, float, str | None, np.ndarray] | None = None
    final: tuple[np.ndarray, np.ndarray] | None = None
    # NB scaling: +0.4 accuracy / +0.9 macro-F1 on toutiao (30k) in cross-validation, but -0.8
    # accuracy on SMP2017 (2.4k): with few examples per label the ratios are mostly noise.
    nb = n > LARGE
    pool = Parallel(n_jobs=n_jobs, prefer="threads")  # liblinear releases the GIL
    # The plain SVM voter (large sets): its final fit and hold-out fit share the pool with the first
    # grid point's jobs; final fits are queued first, so two workers finish at about the same time.
    plain_jobs = [delayed(_fit_ovr)(X, Y, PLAIN_C, PLAIN_CW, False, PLAIN_TOL)] if n > LARGE else []
    plain_jobs += [delayed(_fold_decisions)(X, Y, tr, te, PLAIN_C, PLAIN_CW, False, PLAIN_TOL)
                   for tr, te in splits] if plain_jobs else []
    plain_results: list = []
    for k, (C, cw) in enumerate(grid):
        jobs = [delayed(_fold_decisions)(X, Y, tr, te, C, cw, nb) for tr, te in splits]
        if len(grid) == 1:  # nothing to choose: fit the final model alongside the folds
            jobs.insert(0, delayed(_fit_ovr)(X, Y, C, cw, nb))
        extra = plain_jobs if k == 0 else []
        results = pool(extra + jobs)
        if extra:
            plain_results, results = results[: len(extra)], results[len(extra) :]
        if len(grid) == 1:
            final = results.pop(0)
        D = np.zeros(Y.shape, dtype=np.float64)
        for idx, dec in results:
            D[idx] = dec
        s = score(D[scored], Y[scored])
        if best is None or s > best[0]:
            best = (s, C, cw, D)
        if progress:
            progress(0.8 * (k + 1) / len(grid), f"cross-validated C={C} class_weight={cw}: {s:.4f}")
    assert best is not None
    _, C, cw, D = best
    pa, pb = platt_all(D, Y, scored)
    plain = Q = None
    if plain_results:
        Dq = np.zeros(Y.shape, dtype=np.float64)
        for idx, dec in plain_results[1:]:
            Dq[idx] = dec
        qa, qb = platt_all(Dq, Y, scored)
        plain = Calibrated(*plain_results[0], qa, qb)
        Q = sigmoid(qa * Dq + qb)
    # The voters only on large sets: on SMP2017 (2.4k) the inner folds pick NB, yet outer CV and test lose.
    mix, blend = _choose_weights(sigmoid(pa * D + pb), Q, X, Y, splits, scored) if n > LARGE else (0.0, 0.0)
    coef, intercept = final if final is not None else _fit_ovr(X, Y, C, cw, nb)
    if progress:
        progress(1.0, f"fitted final model C={C} class_weight={cw} plain SVM mix={mix:.2f} naive Bayes blend={blend}")
    return LinearHead(
        coef=coef,
        intercept=intercept,
        platt_a=pa,
        platt_b=pb,
        C=float(C),
        class_weight=cw,
        nb_coef=_cnb_weights(X, Y) if blend else None,
        blend=blend,
        plain=plain,
        mix=mix,
    )
