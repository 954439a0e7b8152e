from __future__ import annotations

import json

import pytest

from knowledge.classify_io import LabelFileError, read_examples
from knowledge.tag_eval import UnknownTestLabelError, evaluate_files

from .classify_data import make_examples


def write(path, examples):
    path.write_text(
        "\n".join(json.dumps({"text": ex.text, "label": ex.labels[0] if ex.labels else None},
                             ensure_ascii=False) for ex in examples) + "\n",
        encoding="utf-8",
    )
    return path


def test_evaluate_files(tmp_path):
    train = write(tmp_path / "train.jsonl", make_examples(25, seed=3, with_chitchat=False))
    test = write(tmp_path / "test.jsonl", make_examples(8, seed=4, with_chitchat=False))
    m = evaluate_files(train, test, n_jobs=1)
    for key in ("accuracy", "macro_f1", "train_s", "predict_per_s"):
        assert isinstance(m[key], float)
    assert m["accuracy"] >= 0.9 and m["macro_f1"] >= 0.9
    assert m["n_train"] == 75 and m["n_test"] == 24
    json.dumps(m)  # the CLI prints it as JSON


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"text": "口红"}', "missing label"),
        ('{"text": "口红", "label": ""}', "non-empty string"),
        ('{"label": "美妆"}', "missing 'text'"),
        ("not json", "not valid JSON"),
        ('["口红", "美妆"]', "JSON object"),
    ],
)
def test_bad_lines_name_the_line(tmp_path, line, reason):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "手机", "label": "数码"}\n\n' + line + "\n", encoding="utf-8")
    with pytest.raises(LabelFileError, match=reason) as e:
        read_examples(path)
    assert e.value.line == 3
    assert "bad.jsonl:3:" in str(e.value)


def test_unknown_test_label_names_the_line(tmp_path):
    train = write(tmp_path / "train.jsonl", make_examples(10, seed=3, with_chitchat=False))
    test = tmp_path / "test.jsonl"
    test.write_text('{"text": "手机", "label": "数码"}\n{"text": "新游戏", "label": "游戏"}\n', encoding="utf-8")
    with pytest.raises(UnknownTestLabelError) as e:
        evaluate_files(train, test)
    assert isinstance(e.value, ValueError)
    assert e.value.line == 2 and "游戏" in str(e.value)


def test_empty_files_are_errors(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    train = write(tmp_path / "train.jsonl", make_examples(10, seed=3))
    with pytest.raises(LabelFileError, match="no examples"):
        evaluate_files(empty, train)
    with pytest.raises(LabelFileError, match="no examples"):
        evaluate_files(train, empty)


def test_allowed_labels_are_checked(tmp_path):
    path = write(tmp_path / "x.jsonl", make_examples(2, seed=3, with_chitchat=False))
    with pytest.raises(LabelFileError, match="unknown label"):
        read_examples(path, allowed={"美妆"})
