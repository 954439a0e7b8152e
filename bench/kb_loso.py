"""Leave one brand-style set out: the FAQ bot on a brand FAQ its reranker has never seen.

    .venv/bin/python -m bench.kb_loso [--sets beauty appliance sportswear snacks pets coffee] [--json]

For each brand-style set (../shared/data/kb/beauty and the sets written for this project in bench/data), the
semantic reranker is trained on lcqmc + oppo (2,000 queries each) and the *other* brand sets, the held-out set's
KB is indexed and calibrated as a rebuild does (from the KB alone), and its queries are run: top-1, answered
right, wrong answers, helped — beside the best any answer threshold could do on those queries (the oracle,
for wrong answers at most 5 % of all queries), so the calibration's own cost shows. Vectors come from the disk
cache of bench/kb_vectors.py.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402

import numpy as np  # noqa: E402

from bench.kb_data import as_rows, load_set  # noqa: E402
from bench.kb_vectors import bench_encoder  # noqa: E402
from knowledge.calibration import calibrate_all  # noqa: E402
from knowledge.kb_eval import MRR_DEPTH, metrics, run_queries  # noqa: E402
from knowledge.reranker import Thresholds  # noqa: E402
from knowledge.reranker_training import train  # noqa: E402
from knowledge.retriever import Retriever  # noqa: E402
from knowledge.tokenizer import preload  # noqa: E402

BRANDS = ("beauty", "appliance", "sportswear", "snacks", "pets", "coffee")
MAX_WRONG = 0.05


def oracle(retriever: Retriever, queries: list[tuple[str, str | None]]) -> dict[str, float]:
    """The most right answers any single answer threshold gives with wrong answers at most MAX_WRONG."""
    best = {"answered_right": 0.0, "threshold": 1.0}
    hits = [retriever.search(q, k=1) for q, _ in queries]
    answerable = sum(e is not None for _, e in queries)
    tops = [(h[0].confidence, h[0].entry_id == e) for h, (_, e) in zip(hits, queries, strict=True) if h]
    for t in np.arange(0.30, 1.0, 0.005):
        right = sum(conf >= t and ok for conf, ok in tops)
        wrong = sum(conf >= t and not ok for conf, ok in tops)
        if wrong <= MAX_WRONG * len(queries) and right / answerable > best["answered_right"]:
            best = {"answered_right": round(right / answerable, 4), "threshold": round(float(t), 3)}
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sets", nargs="+", default=list(BRANDS), choices=BRANDS)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    preload()
    encoder = bench_encoder()
    base = {}
    for name in ("lcqmc", "oppo"):
        entries, queries = load_set(name)
        rows = as_rows(entries)
        if name == "lcqmc":  # its answers are generated from the question
            rows = [{**row, "answer": ""} for row in rows]
        base[name] = (rows, random.Random(0).sample(queries, 2000))
    brands = {name: load_set(name) for name in BRANDS}
    out: dict[str, dict[str, object]] = {}
    for held in args.sets:
        training = {**base, **{n: (as_rows(e), q) for n, (e, q) in brands.items() if n != held}}
        model, _ = train(training, folds=3, encoder=encoder)
        entries, queries = brands[held]
        retriever = Retriever.build(entries, encoder=encoder, reranker=model)
        calibrate_all(retriever)
        th: Thresholds = retriever.thresholds
        m = metrics(run_queries(lambda q, r=retriever: r.search(q, k=MRR_DEPTH), queries, th))
        out[held] = {"entries": len(entries), "queries": len(queries), "answer_threshold": th.answer,
                     **{k: m[k] for k in ("answerable_top1", "recall_at_3", "coverage", "answered_precision",
                                          "wrong_answer_rate", "helped")},
                     "oracle": oracle(retriever, queries)}
        encoder.save()
        if not args.json:
            print(held, json.dumps(out[held], ensure_ascii=False), flush=True)
    if args.json:
        print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
