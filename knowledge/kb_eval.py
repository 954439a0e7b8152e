"""Knowledge-base evaluation: the metrics of `hub kb eval` as pure functions, plus file loading.

Definitions (issue 3, shared/data/README.md):
  answerable_top1    share of answerable queries whose top hit is the expected entry
  mrr                mean reciprocal rank of the expected entry in the top 10 (answerable queries; 0 if absent)
  coverage           answered answerable queries (right answers) / answerable queries
  answered_precision right answers / all answers given (answers to null queries count as wrong)
  false_answer_rate  answers given to null queries / null queries
  recall_at_3        share of answerable queries with the expected entry among the first 3 hits
  helped             share of answerable queries answered right or offered the right entry in the
                     "您是想问…" list (issue 23)
  wrong_answer_rate  (answers to null queries + answers naming the wrong entry) / all queries
  queries_per_s, p99_ms  throughput and 99th-percentile latency of one search + decision, single thread
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from knowledge.calibration import DEFAULT_TARGET_PRECISION, calibrate_all
from knowledge.encoder import Encoder
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
    offered: tuple[str, ...] = ()  # entry ids of the "您是想问…" list (suggest only)


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
        offered = tuple(h.entry_id for h in decision.hits) if decision.action == "suggest" else ()
        out.append(QueryResult(expected, tuple(h.entry_id for h in hits[:MRR_DEPTH]), answered, seconds, offered))
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


def recall_at(results: Sequence[QueryResult], k: int = 3) -> float:
    rs = _answerable(results)
    return sum(r.expected in r.ranked[:k] for r in rs) / len(rs) if rs else 0.0


def helped(results: Sequence[QueryResult]) -> float:
    rs = _answerable(results)
    return sum(r.answered == r.expected or r.expected in r.offered for r in rs) / len(rs) if rs else 0.0


def wrong_answer_rate(results: Sequence[QueryResult]) -> float:
    wrong = sum(r.answered is not None and r.answered != r.expected for r in results)
    return wrong / len(results) if results else 0.0


def suggest_rate(results: Sequence[QueryResult]) -> float:
    return sum(bool(r.offered) for r in results) / len(results) if results else 0.0


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
        "recall_at_3": round(recall_at(results, 3), 4),
        "helped": round(helped(results), 4),
        "wrong_answer_rate": round(wrong_answer_rate(results), 4),
        "suggest_rate": round(suggest_rate(results), 4),
        "queries_per_s": round(queries_per_s(results), 1),
        "p99_ms": round(p99_ms(results), 3),
    }


def evaluate(
    retriever: Retriever, queries: Sequence[tuple[str, str | None]], thresholds: Thresholds | None = None
) -> dict[str, object]:
    """All metrics for a built retriever, with the bot's real thresholds unless others are given."""
    th = thresholds or retriever.thresholds
    results = run_queries(lambda q: retriever.search(q, k=MRR_DEPTH), queries, th)
    return {**metrics(results), "queries": len(results), "answerable": len(_answerable(results)),
            "mode": retriever.mode, "answer_threshold": th.answer, "suggest_threshold": th.suggest}


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


def evaluate_files(kb_path: str | Path, queries_path: str | Path, encoder: Encoder | None = None,
                   target_precision: float = DEFAULT_TARGET_PRECISION) -> dict[str, object]:
    """What `hub kb eval --kb KB.jsonl --queries Q.jsonl --json` prints: the KB is indexed and calibrated
    as the hub does on a rebuild (from the KB alone, never from the queries), then the queries are run."""
    entries = load_kb(kb_path)
    queries = load_queries(queries_path)
    start = time.perf_counter()
    retriever = Retriever.build(entries, encoder=encoder)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    reports = calibrate_all(retriever, target_precision)
    calibrate_s = time.perf_counter() - start
    result = evaluate(retriever, queries)
    return {**result, "entries": len(entries), "build_s": round(build_s, 3), "calibrate_s": round(calibrate_s, 3),
            "target_precision": target_precision, "calibration": reports}
