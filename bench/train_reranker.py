"""Train the knowledge-base reranker/calibrator on the shared sets and write knowledge/reranker.npz.

    .venv/bin/python -m bench.train_reranker [--sets lcqmc oppo] [--out knowledge/reranker.npz]

Only the model (tree arrays + thresholds) is written; the evaluation data itself is never shipped.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.kb_data import DATA, SETS, as_rows, load_set
from knowledge.reranker_training import train

OUT = Path(__file__).resolve().parents[1] / "knowledge" / "reranker.npz"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    start = time.perf_counter()
    datasets = {}
    for name in args.sets:
        entries, queries = load_set(name, args.data)
        datasets[name] = (as_rows(entries), queries)
    model, meta = train(datasets)
    args.out.write_bytes(model.to_bytes())
    print(json.dumps({**meta, "seconds": round(time.perf_counter() - start, 1), "out": str(args.out)}))


if __name__ == "__main__":
    main()
