"""JSON Lines: one object per line, blank lines skipped, errors that name the line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any


class JsonLineError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


def json_objects(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; JsonLineError for bad JSON or a non-object."""
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise JsonLineError(number, f"not valid JSON ({exc.msg})") from None
        if not isinstance(value, dict):
            raise JsonLineError(number, "expected a JSON object")
        yield number, value
