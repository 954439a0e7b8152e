"""Knowledge-base files: read and write JSONL, CSV and Excel. Reading validates every row first and names
the line of the first problem, so an import is all or nothing."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knowledge.jsonl import JsonLineError, json_objects

FIELDS = ("id", "question", "similar", "answer", "category", "link_url", "enabled", "hits", "unhelpful")
MAX_TEXT = 4000
SIMILAR_SEPARATOR = "|"  # CSV and Excel keep paraphrases in one cell, separated by "|"


class KbFileError(ValueError):
    """A file that cannot be imported, with the line (1-based; Excel: the row) and what to fix."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass
class EntryRow:
    line: int
    id: str
    question: str
    answer: str
    similar: list[str] = field(default_factory=list)
    category: str = ""
    link_url: str | None = None
    enabled: bool = True


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _enabled(value: Any, line: int) -> bool:
    if value is None or value == "":
        return True
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y", "是"):
        return True
    if text in ("0", "false", "no", "n", "否"):
        return False
    raise KbFileError(line, f"'enabled' must be true or false, not {value!r}")


def to_row(raw: Any, line: int) -> EntryRow:
    if not isinstance(raw, dict):
        raise KbFileError(line, "expected an object with question and answer")
    question, answer = _text(raw.get("question")), _text(raw.get("answer"))
    if not question:
        raise KbFileError(line, "missing 'question'")
    if not answer:
        raise KbFileError(line, "missing 'answer'")
    similar = raw.get("similar") or []
    if isinstance(similar, str):
        similar = similar.split(SIMILAR_SEPARATOR)
    if not isinstance(similar, list):
        raise KbFileError(line, "'similar' must be a list of questions (or '|'-separated text)")
    similar = [s for s in (_text(s) for s in similar) if s]
    for name, value in (("question", question), ("answer", answer), *(("similar", s) for s in similar)):
        if len(value) > MAX_TEXT:
            raise KbFileError(line, f"'{name}' is longer than {MAX_TEXT} characters")
    entry_id = _text(raw.get("id"))
    if len(entry_id) > 128:
        raise KbFileError(line, "'id' is longer than 128 characters")
    link = _text(raw.get("link_url")) or None
    if link and not link.startswith(("https://", "http://")):
        raise KbFileError(line, "'link_url' must start with http:// or https://")
    return EntryRow(line, entry_id, question, answer, similar, _text(raw.get("category"))[:100], link,
                    _enabled(raw.get("enabled"), line))


def _jsonl(data: bytes) -> Iterator[tuple[int, Any]]:
    try:
        yield from json_objects(_decode(data).splitlines())
    except JsonLineError as exc:
        raise KbFileError(exc.line, exc.message) from None


def _csv(data: bytes) -> Iterator[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO(_decode(data).lstrip("\ufeff")))
    if not reader.fieldnames or "question" not in reader.fieldnames or "answer" not in reader.fieldnames:
        raise KbFileError(1, "the header must name at least the columns question and answer")
    for row in reader:
        yield reader.line_num, row


def _xlsx(data: bytes) -> Iterator[tuple[int, Any]]:
    from openpyxl import load_workbook

    try:
        sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise KbFileError(1, f"not a readable Excel file ({type(exc).__name__})") from None
    rows = sheet.iter_rows(values_only=True)
    header = [_text(h).lower() for h in next(rows, ())]
    if "question" not in header or "answer" not in header:
        raise KbFileError(1, "the first row must name at least the columns question and answer")
    for number, values in enumerate(rows, start=2):
        if values and any(v not in (None, "") for v in values):
            yield number, dict(zip(header, values, strict=False))


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise KbFileError(line, "not UTF-8 text (save the file as UTF-8)") from None


READERS = {".jsonl": _jsonl, ".json": _jsonl, ".csv": _csv, ".xlsx": _xlsx}


def read_entries(path: Path | str, data: bytes | None = None) -> list[EntryRow]:
    """Every row of the file, validated; raises KbFileError naming the first bad line."""
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise KbFileError(1, f"unknown file type {path.suffix!r}; use .jsonl, .csv or .xlsx")
    rows = [to_row(raw, line) for line, raw in reader(path.read_bytes() if data is None else data)]
    seen: dict[str, int] = {}
    for row in rows:
        if row.id and row.id in seen:
            raise KbFileError(row.line, f"id {row.id!r} was used already on line {seen[row.id]}")
        seen[row.id] = row.line
    return rows


def write_entries(path: Path | str, entries: Iterable[dict[str, Any]]) -> int:
    path = Path(path)
    items = list(entries)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in items), encoding="utf-8")
    elif suffix == ".csv":
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, FIELDS)
            writer.writeheader()
            for e in items:
                writer.writerow({f: e.get(f) for f in FIELDS} | {"similar": SIMILAR_SEPARATOR.join(e["similar"])})
    elif suffix == ".xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.append(list(FIELDS))
        for e in items:
            sheet.append([SIMILAR_SEPARATOR.join(e["similar"]) if f == "similar" else e.get(f) for f in FIELDS])
        book.save(path)
    else:
        raise ValueError(f"unknown file type {path.suffix!r}; use .jsonl, .csv or .xlsx")
    return len(items)
