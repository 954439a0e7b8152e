"""Interest / intent classifier: quality against a stock baseline, and speed.

    .venv/bin/python bench/tags_eval.py [--data ../shared/data] [--fans 100000] [--quick]

Quality: toutiao (train → test), THUCNews (stratified 80/20 split of its train file, seed 0) and
SMP2017 (train → test); ours vs scikit-learn TfidfVectorizer + LinearSVC on character 1–3-grams
and on jieba words, all trained on the same files; ours also prints the settings and voter weights
it chose. Speed: batch prediction on one core, single message p99 latency, training time on
toutiao-train (~30,000 texts, 2 cores), and retagging (re-predicting every message and recomputing
every fan's profile).
"""

from __future__ import annotations

import os

# One core for prediction figures: keep BLAS from spreading across cores (set before numpy loads).
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import jieba  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402
from tqdm import tqdm  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knowledge.classifier import Example, Model, preload  # noqa: E402
from knowledge.classify_io import read_examples  # noqa: E402
from knowledge.profile import Message, recompute  # noqa: E402
from knowledge.tag_eval import evaluate_examples  # noqa: E402


def split(examples: list[Example], seed: int = 0, test_share: float = 0.2) -> tuple[list, list]:
    by_label: dict[str, list[Example]] = defaultdict(list)
    for ex in examples:
        by_label[ex.labels[0]].append(ex)
    rng = random.Random(seed)
    train, test = [], []
    for label in sorted(by_label):
        group = by_label[label]
        rng.shuffle(group)
        k = round(len(group) * test_share)
        test += group[:k]
        train += group[k:]
    return train, test


def baseline(train: list[Example], test: list[Example], kind: str) -> dict[str, float]:
    if kind == "chars":
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
    else:
        vec = TfidfVectorizer(tokenizer=jieba.lcut, token_pattern=None, lowercase=True, sublinear_tf=True)
    started = time.perf_counter()
    X = vec.fit_transform([ex.text for ex in train])
    clf = LinearSVC().fit(X, [ex.labels[0] for ex in train])
    train_s = time.perf_counter() - started
    pred = clf.predict(vec.transform([ex.text for ex in test]))
    gold = [ex.labels[0] for ex in test]
    return {"accuracy": accuracy_score(gold, pred), "macro_f1": f1_score(gold, pred, average="macro"),
            "train_s": train_s}


def latency_p99(model: Model, texts: list[str], n: int) -> tuple[float, float]:
    times = []
    for t in texts[:n]:
        started = time.perf_counter()
        model.predict_proba([t])
        times.append(time.perf_counter() - started)
    ms = np.array(times) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def batch_rate(model: Model, texts: list[str], batch: int = 1000) -> tuple[float, float]:
    """Messages per second of wall time and of this process's CPU time (the machine may be shared)."""
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(texts), batch):
        model.predict_proba(texts[i : i + batch])
    return len(texts) / (time.perf_counter() - wall), len(texts) / (time.process_time() - cpu)


def retag(model: Model, texts: list[str], fans: int, per_fan: int, seed: int = 0) -> dict[str, float]:
    """Re-predict every message of `fans` fans and recompute each fan's profile from history."""
    rng = random.Random(seed)
    t0 = 1_700_000_000.0
    predict_s = profile_s = 0.0
    tagged = 0
    batch_fans = 2000
    for start in tqdm(range(0, fans, batch_fans), desc=f"retag {fans} fans", unit_scale=batch_fans):
        n = min(batch_fans, fans - start)
        msgs = [texts[rng.randrange(len(texts))] for _ in range(n * per_fan)]
        started = time.perf_counter()
        probs = model.predict_proba(msgs)
        predict_s += time.perf_counter() - started
        started = time.perf_counter()
        for f in range(n):
            history = [Message(f"{start + f}-{k}", t0 + k * 3600.0 * rng.random() * 48, probs[f * per_fan + k])
                       for k in range(per_fan)]
            tagged += bool(recompute(history).tags)
        profile_s += time.perf_counter() - started
    return {"fans": fans, "messages": fans * per_fan, "predict_s": predict_s, "profile_s": profile_s,
            "total_s": predict_s + profile_s, "fans_with_evidence": tagged}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--fans", type=int, default=100_000, help="fans to retag (measured, not extrapolated)")
    ap.add_argument("--per-fan", type=int, default=5, help="messages per fan when retagging")
    ap.add_argument("--quick", action="store_true", help="skip THUCNews and use 20,000 fans")
    ap.add_argument("--json", help="also write all figures to this file")
    args = ap.parse_args()
    data = Path(args.data)
    preload()
    jieba.lcut("预热")
    sets = {
        "toutiao": (read_examples(data / "interest/toutiao-train.jsonl"),
                    read_examples(data / "interest/toutiao-test.jsonl")),
        "smp2017": (read_examples(data / "intent/smp2017-train.jsonl"),
                    read_examples(data / "intent/smp2017-test.jsonl")),
    }
    if not args.quick:
        sets["thucnews"] = split(read_examples(data / "interest/thucnews-train.jsonl"))
    results: dict[str, dict] = {}
    models: dict[str, Model] = {}
    for name, (train, test) in tqdm(sets.items(), desc="data sets"):
        model, ours = evaluate_examples(train, test, n_jobs=2)
        models[name] = model
        results[name] = {
            "ours": {k: ours[k] for k in ("accuracy", "macro_f1", "train_s", "predict_per_s")},
            "stock chars 1-3": baseline(train, test, "chars"),
            "stock jieba words": baseline(train, test, "words"),
            "n_train": len(train), "n_test": len(test),
            "C": model.metadata["C"], "class_weight": model.metadata["class_weight"],
            "nb_blend": model.metadata["nb_blend"], "plain_mix": model.metadata["plain_mix"],
        }
    print()
    print(f"{'data set':10} {'model':18} {'accuracy':>8} {'macroF1':>8} {'train_s':>8}")
    for name, r in results.items():
        for key in ("ours", "stock chars 1-3", "stock jieba words"):
            m = r[key]
            print(f"{name:10} {key:18} {m['accuracy']:8.4f} {m['macro_f1']:8.4f} {m['train_s']:8.1f}")
    for name, r in results.items():
        print(f"{name:10} ours chose C={r['C']} class_weight={r['class_weight']}, "
              f"plain SVM mix={r['plain_mix']}, naive Bayes blend={r['nb_blend']}")
    speed: dict[str, float | dict] = {}
    tt_model = models["toutiao"]
    tt_texts = [ex.text for ex in sets["toutiao"][1]]
    smp_texts = [ex.text for ex in sets["smp2017"][1]]
    speed["batch_per_s_toutiao_headlines"], speed["batch_per_cpu_s_toutiao"] = batch_rate(tt_model, tt_texts)
    speed["batch_per_s_smp_messages"], speed["batch_per_cpu_s_smp"] = batch_rate(
        models["smp2017"], smp_texts * 10)
    p50, p99 = latency_p99(tt_model, tt_texts, 3000)
    speed["single_p50_ms"], speed["single_p99_ms"] = p50, p99
    speed["train_s_toutiao_30k"] = results["toutiao"]["ours"]["train_s"]
    fans = 20_000 if args.quick else args.fans
    rt = retag(tt_model, tt_texts, fans, args.per_fan)
    rt["extrapolated_100k_fans_s"] = rt["total_s"] * 100_000 / fans
    speed["retag"] = rt
    print()
    print(f"batch prediction, one core: {speed['batch_per_s_toutiao_headlines']:,.0f} toutiao headlines/s "
          f"({speed['batch_per_cpu_s_toutiao']:,.0f} per CPU second), "
          f"{speed['batch_per_s_smp_messages']:,.0f} smp2017 messages/s "
          f"({speed['batch_per_cpu_s_smp']:,.0f} per CPU second)")
    print(f"single message: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    print(f"training on {results['toutiao']['n_train']:,} texts (2 cores): {speed['train_s_toutiao_30k']:.1f} s")
    print(f"retagging {fans:,} fans x {args.per_fan} messages: {rt['total_s']:.1f} s "
          f"(predict {rt['predict_s']:.1f} s, profiles {rt['profile_s']:.1f} s); "
          f"100,000 fans: {rt['extrapolated_100k_fans_s']:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"quality": results, "speed": speed}, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
