"""Reading labelled-example files (JSON Lines) with errors that name the offending line.

One object a line: {"text": "...", "label": "..."} or {"text": "...", "labels": ["...", ...]};
"labels": [] (or "label": null) marks a text with no label (chit-chat, no interest).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from pathlib import Path

from knowledge.classifier import Example
from knowledge.jsonl import JsonLineError, json_objects


class LabelFileError(ValueError):
    """A label file line that cannot be used; `.line` is 1-based."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


def parse_lines(
    lines: Iterable[str], source: str = "<examples>", allowed: Collection[str] | None = None
) -> list[Example]:
    """Examples from JSON lines; blank lines are skipped, anything else wrong raises LabelFileError."""
    out: list[Example] = []
    try:
        rows = list(json_objects(lines))
    except JsonLineError as e:
        raise LabelFileError(source, e.line, e.message + " (one object with 'text' and 'label' per line)") from e
    for n, obj in rows:
        text = obj.get("text")
        if not isinstance(text, str):
            raise LabelFileError(source, n, "missing 'text' (a string)")
        if "labels" in obj:
            labels = obj["labels"]
            if not isinstance(labels, list) or not all(isinstance(x, str) and x.strip() for x in labels):
                raise LabelFileError(source, n, "'labels' must be a list of non-empty strings")
        elif "label" in obj:
            label = obj["label"]
            if label is None:
                labels = []
            elif isinstance(label, str) and label.strip():
                labels = [label]
            else:
                raise LabelFileError(source, n, "'label' must be a non-empty string or null")
        else:
            raise LabelFileError(source, n, "missing label: give 'label' (or 'labels', [] for none)")
        labels = [x.strip() for x in labels]
        if allowed is not None:
            unknown = [x for x in labels if x not in allowed]
            if unknown:
                raise LabelFileError(source, n, f"unknown label {unknown[0]!r} (known: {', '.join(sorted(allowed))})")
        out.append(Example(text, tuple(labels), id=f"{source}:{n}"))
    return out


def read_examples(path: str | Path, allowed: Collection[str] | None = None) -> list[Example]:
    p = Path(path)
    try:
        with p.open(encoding="utf-8") as f:
            return parse_lines(f, str(p), allowed)
    except UnicodeDecodeError as e:
        raise LabelFileError(str(p), 0, f"not UTF-8 text ({e.reason})") from e
