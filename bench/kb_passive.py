"""At what message rate do passive knowledge-base answers start falling back to the customer-service API?

    .venv/bin/python -m bench.kb_passive [--rates 10 20 40 80 200] [--seconds 10] [--budget-ms 1500]

The webhook decides a passive reply in a pool of 4 threads (hub/intake/webhooks.py) within the reply budget
(HUB_REPLY_BUDGET_MS, 1500 ms); a decision that is late is left to the worker, which answers through the API.
This bench drives the same decision (`Retriever.decide`, semantic: one encode + rerank per message) from such a
pool at a fixed open-loop rate (latency from the scheduled send time: a backlog cannot hide), for one web process
pinned to one core, and reports per rate the p50/p99 decision latency and the share of messages over the budget.
The lexical retriever (no encoder) runs beside it as the baseline. It measures the KB part of the reply budget
only, not HTTP, signatures or the database, nor the webhook's shedding of decisions once they take half of a
process's time (hub/intake/reply_load.py): `bench/webhook_load.py --kb ... --kb-rates ...` measures all of that.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402

from bench.kb_data import load_set  # noqa: E402
from bench.kb_vectors import bench_encoder  # noqa: E402
from knowledge.calibration import calibrate_all  # noqa: E402
from knowledge.encoder import load_encoder  # noqa: E402
from knowledge.retriever import Retriever  # noqa: E402
from knowledge.tokenizer import preload  # noqa: E402


def run(retriever: Retriever, texts: list[str], rate: float, seconds: float, budget: float) -> dict[str, float]:
    n = int(rate * seconds)
    latencies: list[float] = []
    start = time.perf_counter() + 0.05

    def one(i: int) -> None:
        retriever.decide(texts[i % len(texts)])
        latencies.append(time.perf_counter() - (start + i / rate))

    with ThreadPoolExecutor(max_workers=4) as pool:
        for i in range(n):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, i)
    lat = np.array(latencies)
    return {"rate": rate, "messages": n, "p50_ms": round(float(np.percentile(lat, 50) * 1000), 1),
            "p99_ms": round(float(np.percentile(lat, 99) * 1000), 1),
            "over_budget": round(float((lat > budget).mean()), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--set", default="beauty")
    ap.add_argument("--rates", nargs="+", type=float, default=[10, 20, 40, 80, 200])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--budget-ms", type=float, default=1500)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    preload()
    entries, queries = load_set(args.set)
    texts = [q for q, _ in queries]
    semantic = Retriever.build(entries, encoder=bench_encoder())
    calibrate_all(semantic)
    semantic = Retriever.from_bytes(semantic.to_bytes(), encoder=load_encoder())  # queries encoded for real
    lexical = semantic.lexical_view()
    out = {}
    for name, retriever in (("semantic", semantic), ("lexical", lexical)):
        retriever.decide("预热")
        rows = [run(retriever, texts, r, args.seconds, args.budget_ms / 1000) for r in args.rates]
        falls = next((r["rate"] for r in rows if r["over_budget"] > 0.01), None)
        out[name] = {"rows": rows, "falls_back_from_rate": falls}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
