"""Knowledge-base evaluation: the metrics of `hub kb eval` as pure functions, plus file loading.

Definitions (issue 3, shared/data/README.md):
  answerable_top1    share of answerable queries whose top hit is the expected entry
  mrr                mean reciprocal rank of the expected entry in the top 10 (answerable queries; 0 if absent)
  coverage           answered answerable queries (right answers) / answerable queries
  answered_precision right answers / all answers given (answers to null queries count as wrong)
  false_answer_rate  answers given to null queries / null queries
  queries_per_s, p99_ms  throughput and 99th-percentile latency of one search + decision, single thread
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from knowledge.jsonl import JsonLineError, json_objects
from knowledge.reranker import Thresholds
from knowledge.retriever import Entry, Hit, Retriever, decide_hits

MRR_DEPTH = 10


@dataclass(frozen=True, slots=True)
class QueryResult:
    expected: str | None
    ranked: tuple[str, ...]  # entry ids, best first (up to MRR_DEPTH)
    answered: str | None  # entry id the bot answered with, None for suggest/handoff
    seconds: float


def run_queries(
    search: Callable[[str], Sequence[Hit]],
    queries: Sequence[tuple[str, str | None]],
    thresholds: Thresholds,
) -> list[QueryResult]:
    """Search every query once, timing search + decision, and record what the bot would do."""
    out: list[QueryResult] = []
    for text, expected in queries:
        start = time.perf_counter()
        hits = search(text)
        decision = decide_hits(hits, thresholds)
        seconds = time.perf_counter() - start
        answered = decision.hits[0].entry_id if decision.action == "answer" else None
        out.append(QueryResult(expected, tuple(h.entry_id for h in hits[:MRR_DEPTH]), answered, seconds))
    return out


def _answerable(results: Sequence[QueryResult]) -> list[QueryResult]:
    return [r for r in results if r.expected is not None]


def answerable_top1(results: Sequence[QueryResult]) -> float:
    rs = _answerable(results)
    return sum(bool(r.ranked) and r.ranked[0] == r.expected for r in rs) / len(rs) if rs else 0.0


def mrr(results: Sequence[QueryResult], depth: int = MRR_DEPTH) -> float:
    rs = _answerable(results)
    total = 0.0
    for r in rs:
        ranked = r.ranked[:depth]
        if r.expected in ranked:
            total += 1.0 / (ranked.index(r.expected) + 1)  # type: ignore[arg-type]
    return total / len(rs) if rs else 0.0


def coverage(results: Sequence[QueryResult]) -> float:
    rs = _answerable(results)
    return sum(r.answered == r.expected for r in rs) / len(rs) if rs else 0.0


def answered_precision(results: Sequence[QueryResult]) -> float:
    answered = [r for r in results if r.answered is not None]
    return sum(r.answered == r.expected for r in answered) / len(answered) if answered else 0.0


def false_answer_rate(results: Sequence[QueryResult]) -> float:
    nulls = [r for r in results if r.expected is None]
    return sum(r.answered is not None for r in nulls) / len(nulls) if nulls else 0.0


def queries_per_s(results: Sequence[QueryResult]) -> float:
    total = sum(r.seconds for r in results)
    return len(results) / total if total > 0 else 0.0


def p99_ms(results: Sequence[QueryResult]) -> float:
    return float(np.percentile([r.seconds for r in results], 99) * 1000) if results else 0.0


def metrics(results: Sequence[QueryResult]) -> dict[str, float]:
    return {
        "answerable_top1": round(answerable_top1(results), 4),
        "mrr": round(mrr(results), 4),
        "answered_precision": round(answered_precision(results), 4),
        "coverage": round(coverage(results), 4),
        "false_answer_rate": round(false_answer_rate(results), 4),
        "queries_per_s": round(queries_per_s(results), 1),
        "p99_ms": round(p99_ms(results), 3),
    }


def evaluate(
    retriever: Retriever, queries: Sequence[tuple[str, str | None]], thresholds: Thresholds | None = None
) -> dict[str, float]:
    """All metrics for a built retriever, with the bot's real thresholds unless others are given."""
    th = thresholds or retriever.thresholds
    results = run_queries(lambda q: retriever.search(q, k=MRR_DEPTH), queries, th)
    return {**metrics(results), "queries": len(results), "answerable": len(_answerable(results))}


# -- files --------------------------------------------------------------------------------------------
class KbFileError(ValueError):
    """A malformed KB or query file; the message names the file and line."""


def _rows(path: str | Path) -> list[tuple[int, dict[str, object]]]:
    with open(path, encoding="utf-8") as fh:
        try:
            return list(json_objects(fh))
        except JsonLineError as exc:
            raise KbFileError(f"{path}:{exc.line}: {exc.message}") from None


def load_kb(path: str | Path) -> list[Entry]:
    """KB JSONL: {"id", "question", "answer"?, "similar"?: [...]} per line."""
    entries, seen = [], set()
    for n, row in _rows(path):
        if not row.get("id") or not isinstance(row.get("question"), str) or not row["question"].strip():
            raise KbFileError(f"{path}:{n}: an entry needs a non-empty \"id\" and \"question\"")
        if str(row["id"]) in seen:
            raise KbFileError(f"{path}:{n}: duplicate id {row['id']!r}")
        seen.add(str(row["id"]))
        entries.append(Entry.from_mapping(row))
    return entries


def load_queries(path: str | Path) -> list[tuple[str, str | None]]:
    """Query JSONL: {"query": "...", "expected": "<id>" | null} per line."""
    out = []
    for n, row in _rows(path):
        if not isinstance(row.get("query"), str) or "expected" not in row:
            raise KbFileError(f"{path}:{n}: a query needs \"query\" (text) and \"expected\" (id or null)")
        exp = row["expected"]
        out.append((row["query"], None if exp is None else str(exp)))
    return out


def evaluate_files(kb_path: str | Path, queries_path: str | Path) -> dict[str, float]:
    """What `hub kb eval --kb KB.jsonl --queries Q.jsonl --json` prints."""
    entries = load_kb(kb_path)
    queries = load_queries(queries_path)
    start = time.perf_counter()
    retriever = Retriever.build(entries)
    build_s = time.perf_counter() - start
    result = evaluate(retriever, queries)
    return {**result, "entries": len(entries), "build_s": round(build_s, 3)}
