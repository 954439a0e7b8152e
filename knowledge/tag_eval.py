"""`hub tags eval`: train on one labelled file, measure on another.

    evaluate_files("train.jsonl", "test.jsonl")
    → {"accuracy": 0.87, "macro_f1": 0.81, "train_s": 21.4, "predict_per_s": 11800.0, ...}

Both files: JSON Lines of {"text": ..., "label": ...} (see classify_io). A test label the training
file never uses raises UnknownTestLabelError naming the line: the model could never predict it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from knowledge.classifier import Example, Model, evaluate, preload, train
from knowledge.classify_io import LabelFileError, read_examples

__all__ = ["LabelFileError", "UnknownTestLabelError", "evaluate_files", "evaluate_examples"]


class UnknownTestLabelError(LabelFileError):
    """The test file has a label that does not occur in the training file."""


def evaluate_examples(
    train_examples: list[Example],
    test_examples: list[Example],
    progress: Callable[[float, str], None] | None = None,
    n_jobs: int = 2,
) -> tuple[Model, dict[str, Any]]:
    labels = {lab for ex in train_examples for lab in ex.labels}
    preload()  # jieba's one-off load is not training time
    started = time.perf_counter()
    model = train(train_examples, labels, progress=progress, n_jobs=n_jobs)
    train_s = time.perf_counter() - started
    metrics = evaluate(model, test_examples)
    metrics.update(
        train_s=round(train_s, 3),
        n_train=len(train_examples),
        n_test=len(test_examples),
        labels=sorted(labels),
    )
    return model, metrics


def evaluate_files(
    train_path: str | Path,
    test_path: str | Path,
    progress: Callable[[float, str], None] | None = None,
    n_jobs: int = 2,
) -> dict[str, Any]:
    """Metrics as one JSON-ready dict: accuracy, macro_f1, micro_f1, train_s, predict_per_s, ...

    Raises LabelFileError (a ValueError; `.path`, `.line`) for a malformed line, a missing label or
    a test label unknown to the training file.
    """
    train_examples = read_examples(train_path)
    if not train_examples:
        raise LabelFileError(str(train_path), 0, "no examples in the training file")
    labels = {lab for ex in train_examples for lab in ex.labels}
    test_examples = read_examples(test_path)
    for ex in test_examples:
        unknown = [lab for lab in ex.labels if lab not in labels]
        if unknown:
            line = int(str(ex.id).rsplit(":", 1)[1])
            raise UnknownTestLabelError(
                str(test_path), line, f"label {unknown[0]!r} does not occur in the training file {train_path}"
            )
    if not test_examples:
        raise LabelFileError(str(test_path), 0, "no examples in the test file")
    _, metrics = evaluate_examples(train_examples, test_examples, progress=progress, n_jobs=n_jobs)
    return metrics
