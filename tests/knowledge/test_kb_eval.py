"""KB evaluation metrics and file loading, on data made here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge.kb_eval import (
    KbFileError,
    QueryResult,
    answerable_top1,
    answered_precision,
    coverage,
    evaluate_files,
    false_answer_rate,
    load_kb,
    metrics,
    mrr,
    p99_ms,
    queries_per_s,
)

RESULTS = [
    QueryResult("a", ("a", "b"), "a", 0.001),  # right, answered
    QueryResult("b", ("a", "b"), None, 0.001),  # rank 2, not answered
    QueryResult("c", ("x", "y"), "x", 0.002),  # not in list, answered wrong
    QueryResult(None, ("a",), "a", 0.001),  # null, answered: false answer
    QueryResult(None, ("b",), None, 0.010),  # null, handed off
]


def test_metric_definitions() -> None:
    assert answerable_top1(RESULTS) == pytest.approx(1 / 3)
    assert mrr(RESULTS) == pytest.approx((1 + 0.5 + 0) / 3)
    assert coverage(RESULTS) == pytest.approx(1 / 3)
    assert answered_precision(RESULTS) == pytest.approx(1 / 3)  # 3 answers, 1 right
    assert false_answer_rate(RESULTS) == pytest.approx(1 / 2)
    assert queries_per_s(RESULTS) == pytest.approx(5 / 0.015)
    assert 2.0 < p99_ms(RESULTS) <= 10.0


def test_mrr_depth_cut() -> None:
    r = [QueryResult("k", tuple("abcdefghijk"), None, 0.0)]
    assert mrr(r) == 0.0
    assert mrr(r, depth=11) == pytest.approx(1 / 11)


def test_metrics_on_empty_input() -> None:
    m = metrics([])
    assert all(v == 0.0 for v in m.values())


def _write(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def test_evaluate_files(tmp_path: Path) -> None:
    kb = _write(tmp_path / "kb.jsonl", [
        {"id": "1", "question": "怎么申请退款", "answer": "订单页"},
        {"id": "2", "question": "什么时候发货", "answer": "48小时"},
        {"id": "3", "question": "可以开发票吗", "answer": "可以"},
        {"id": "4", "question": "会员有什么权益", "answer": "9折"},
    ])
    queries = _write(tmp_path / "q.jsonl", [
        {"query": "怎么申请退款", "expected": "1"},
        {"query": "可以开发票吗？", "expected": "3"},
        {"query": "什么时候发货呢", "expected": "2"},
        {"query": "今天天气怎么样", "expected": None},
        {"query": "😀", "expected": None},
    ])
    out = evaluate_files(kb, queries)
    for key in ("answerable_top1", "mrr", "answered_precision", "coverage", "false_answer_rate",
                "queries_per_s", "p99_ms"):
        assert key in out
    assert out["answerable_top1"] == 1.0 and out["mrr"] == 1.0
    assert out["false_answer_rate"] == 0.0
    assert out["queries"] == 5 and out["answerable"] == 3 and out["entries"] == 4
    assert out["queries_per_s"] > 0 and out["p99_ms"] > 0


def test_malformed_files_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "question": "a"}\n\n{"id": "2", "question": \n', encoding="utf-8")
    with pytest.raises(KbFileError, match=r"bad.jsonl:3"):
        load_kb(bad)
    dup = _write(tmp_path / "dup.jsonl", [{"id": "1", "question": "a"}, {"id": "1", "question": "b"}])
    with pytest.raises(KbFileError, match=r"dup.jsonl:2: duplicate"):
        load_kb(dup)
    blank = _write(tmp_path / "blank.jsonl", [{"id": "1", "question": "  "}])
    with pytest.raises(KbFileError, match=r"blank.jsonl:1"):
        load_kb(blank)
    kb = _write(tmp_path / "kb.jsonl", [{"id": "1", "question": "a"}])
    q = _write(tmp_path / "q.jsonl", [{"query": "a"}])
    with pytest.raises(KbFileError, match=r"q.jsonl:1"):
        evaluate_files(kb, q)


def test_helped_recall_and_wrong_answer_rate() -> None:
    from knowledge.kb_eval import helped, recall_at, wrong_answer_rate

    results = [
        QueryResult("a", ("a", "b"), "a", 0.001),  # answered right
        QueryResult("b", ("c", "x", "b"), None, 0.001, ("c", "x", "b")),  # right entry in the offered list
        QueryResult("c", ("x", "y"), "x", 0.001),  # answered wrong
        QueryResult("d", ("d",), None, 0.001),  # handed off
        QueryResult(None, ("a",), "a", 0.001),  # null, answered
        QueryResult(None, ("b",), None, 0.001, ("b",)),  # null, offered a list: not an answer
    ]
    assert recall_at(results, 3) == pytest.approx(3 / 4)
    assert helped(results) == pytest.approx(2 / 4)
    assert wrong_answer_rate(results) == pytest.approx(2 / 6)


def test_evaluate_files_reports_the_thresholds_it_calibrated(tmp_path: Path) -> None:
    kb = _write(tmp_path / "kb.jsonl", [
        {"id": "1", "question": "怎么申请退款", "answer": "订单页"},
        {"id": "2", "question": "什么时候发货", "answer": "48小时"},
        {"id": "3", "question": "可以开发票吗", "answer": "可以"},
    ])
    queries = _write(tmp_path / "q.jsonl", [{"query": "怎么申请退款", "expected": "1"}])
    strict = evaluate_files(kb, queries, target_precision=0.99)
    for key in ("recall_at_3", "helped", "wrong_answer_rate", "answer_threshold", "suggest_threshold", "mode"):
        assert key in strict
    assert strict["mode"] == "lexical" and strict["target_precision"] == 0.99
    assert strict["calibration"]["lexical"]["answer"] == strict["answer_threshold"]
    assert strict["suggest_threshold"] <= strict["answer_threshold"]
