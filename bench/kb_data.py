"""Loading the shared evaluation sets for the knowledge-base benchmarks (never shipped, never in tests)."""

from __future__ import annotations

from pathlib import Path

from knowledge.kb_eval import load_kb, load_queries
from knowledge.retriever import Entry

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "kb"
OWN = Path(__file__).resolve().parent / "data"  # brand-style sets written for this project (bench/data)
# the semantic reranker's training sets
SETS = ("lcqmc", "oppo", "appliance", "sportswear", "snacks", "pets", "coffee", "beauty")
ALL_SETS = ("beauty", "lcqmc", "oppo", "appliance", "sportswear", "snacks", "pets", "coffee")


def load_set(name: str, data: Path = DATA) -> tuple[list[Entry], list[tuple[str, str | None]]]:
    if (OWN / f"{name}-kb.jsonl").exists():
        data = OWN
    return load_kb(data / f"{name}-kb.jsonl"), load_queries(data / f"{name}-queries.jsonl")


def as_rows(entries: list[Entry]) -> list[dict[str, object]]:
    return [{"id": e.id, "question": e.question, "similar": list(e.similar), "answer": e.answer} for e in entries]
