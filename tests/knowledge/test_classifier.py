from __future__ import annotations

import pytest

from knowledge.classifier import (
    Example,
    Model,
    TrainingError,
    UnknownLabelError,
    evaluate,
    filter_labels,
    is_no_worse,
    train,
)
from knowledge.intents import INTENTS, builtin_examples, train_intent_model

from .classify_data import VOCAB, make_examples


@pytest.fixture(scope="session")
def examples() -> list[Example]:
    return make_examples(30, seed=1)


@pytest.fixture(scope="session")
def held_back() -> list[Example]:
    return make_examples(10, seed=2)


@pytest.fixture(scope="session")
def model(examples):
    return train(examples, set(VOCAB), n_jobs=1, grid=((0.5, None), (1.0, "balanced")))


def test_learns_labels_and_no_interest(model, held_back):
    m = evaluate(model, held_back)
    assert m["accuracy"] >= 0.9
    assert m["macro_f1"] >= 0.9
    assert model.open_world  # it saw texts with no label
    assert model.predict(["这款口红怎么样", "晚安"]) == [["美妆"], []]
    assert model.predict_top(["晚安"]) == [None]


def test_probabilities_are_per_label_and_bounded(model):
    (p,) = model.predict_proba(["这款手机怎么样"])
    assert set(p) == set(VOCAB)
    assert all(0.0 <= v <= 1.0 for v in p.values())
    assert max(p, key=p.get) == "数码"
    assert p["数码"] > 0.5 > p["美妆"]
    assert p["数码"] > p["汽车"]


def test_multi_label_text_gets_both_labels(model):
    (labels,) = model.predict(["口红和手机哪个牌子好"], threshold=0.3)
    assert set(labels) == {"美妆", "数码"}


def test_empty_texts_are_not_classified(model):
    texts = ["", "   ", "。。。", "[图片]"[:0], "这款口红怎么样"]
    probs = model.predict_proba(texts)
    assert probs[:4] == [{}, {}, {}, {}]
    assert probs[4]
    assert model.predict(texts)[:4] == [[], [], [], []]
    assert model.predict_top([""]) == [None]
    assert model.predict_proba([]) == []


def test_deleted_tag_is_filtered(model):
    allowed = {"美妆", "汽车"}  # 数码 was deleted after training
    (p,) = model.predict_proba(["这款手机怎么样"], allowed=allowed)
    assert set(p) == allowed
    assert "数码" not in model.predict(["这款手机怎么样"], threshold=0.0, allowed=allowed)[0]
    assert model.predict_top(["这款手机怎么样"], allowed=allowed)[0] in allowed | {None}
    assert filter_labels(model.predict_proba(["手机"]), allowed) == [
        {k: v for k, v in model.predict_proba(["手机"])[0].items() if k in allowed}
    ]


def test_round_trip_bytes(model):
    blob = model.to_bytes()
    again = Model.from_bytes(blob)
    texts = ["这款口红怎么样", "轮胎多久换", "好的"]
    assert again.version == model.version
    assert again.metadata == model.metadata
    for a, b in zip(again.predict_proba(texts), model.predict_proba(texts), strict=True):
        assert a == pytest.approx(b)
    with pytest.raises(ValueError, match="not a classifier model"):
        Model.from_bytes(b"not a model")


def test_unknown_label_is_an_error_or_dropped(examples):
    bad = [*examples, Example("新出的游戏机", ("游戏",))]
    with pytest.raises(UnknownLabelError) as e:
        train(bad, set(VOCAB), n_jobs=1, grid=((0.5, None),))
    assert e.value.index == len(examples) and "游戏" in str(e.value)
    m = train(bad, set(VOCAB), unknown="drop", n_jobs=1, grid=((0.5, None),))
    assert "游戏" not in m.labels


def test_cold_start_from_seed_keywords():
    m = train([], set(VOCAB), seed_keywords={"美妆": ["口红", "面膜"], "数码": ["手机"], "汽车": []})
    assert m.metadata["kind"] == "keywords"
    assert m.metadata["untrained_labels"] == ["汽车"]
    assert m.predict(["这支口红好看", "手机和面膜", "今天天气不错"]) == [["美妆"], ["数码", "美妆"], []]
    (p,) = m.predict_proba(["口红和面膜"])
    assert p["美妆"] > p["数码"]
    assert Model.from_bytes(m.to_bytes()).predict(["口红"]) == [["美妆"]]


def test_keywords_cover_labels_without_examples(examples):
    few = [ex for ex in examples if ex.labels != ("汽车",)]
    m = train(few, set(VOCAB), seed_keywords={"汽车": ["试驾", "保养"]}, n_jobs=1, grid=((0.5, None),))
    assert m.metadata["keyword_labels"] == ["汽车"]
    assert m.predict_top(["想预约试驾"]) == ["汽车"]


def test_nothing_to_learn_is_a_clear_error():
    with pytest.raises(TrainingError, match="not enough examples"):
        train([Example("口红", ("美妆",))], set(VOCAB))
    with pytest.raises(TrainingError, match="no labels"):
        train([], set())


def test_new_model_replaces_old_only_if_no_worse(examples, held_back, model):
    weak = train(make_examples(3, seed=5, with_chitchat=False), set(VOCAB), n_jobs=1, grid=((0.5, None),))
    good, bad = evaluate(model, held_back), evaluate(weak, held_back)
    assert is_no_worse(good, bad)
    assert not is_no_worse(bad, good)


def test_intent_examples_are_balanced_and_model_works():
    ex = builtin_examples()
    counts = {i: sum(1 for e in ex if e.labels == (i,)) for i in INTENTS}
    assert len(ex) >= 300 and min(counts.values()) >= 0.8 * max(counts.values())
    m = train_intent_model(extra=[Example("能不能给我退一半", ("complaint",))])
    got = m.predict_top(["转人工", "怎么退货", "这款还有货吗 多少钱", "哈哈 早上好", "你们这什么破质量"])
    assert got == ["human", "question", "purchase", "chitchat", "complaint"]
    assert not m.open_world  # chit-chat is an intent, every text gets one


@pytest.mark.parametrize("old", ["fanhub-classifier/1", "fanhub-classifier/2"])
def test_old_model_format_is_a_clear_error(model, old):
    import io
    import json

    import numpy as np

    z = np.load(io.BytesIO(model.to_bytes()), allow_pickle=False)
    arrays = {k: z[k] for k in z.files}
    doc = json.loads(bytes(arrays["doc"]).decode("utf-8"))
    doc["format"] = old
    arrays["doc"] = np.frombuffer(json.dumps(doc).encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    with pytest.raises(ValueError, match="unsupported model format"):
        Model.from_bytes(buf.getvalue())


def test_naive_bayes_voter_matches_sklearn_and_round_trips(model, examples):
    import numpy as np
    from sklearn.naive_bayes import ComplementNB

    from knowledge.classify_linear import LinearHead, _cnb_weights

    single = [ex for ex in examples if len(ex.labels) == 1 and ex.labels[0] in model.head_labels]
    texts = [ex.text for ex in single]
    y = [model.head_labels.index(ex.labels[0]) for ex in single]
    X = model.features.transform(texts)
    Y = np.eye(len(model.head_labels), dtype=np.int8)[y]
    nb_coef = _cnb_weights(X, Y)
    z = X @ nb_coef.T
    mine = np.exp(z - z.max(axis=1, keepdims=True))
    mine /= mine.sum(axis=1, keepdims=True)
    ref = ComplementNB(alpha=0.1).fit(X, y)
    assert np.allclose(mine[:, ref.classes_], ref.predict_proba(X), atol=1e-5)
    h = model.head
    head = LinearHead(h.coef, h.intercept, h.platt_a, h.platt_b, h.C, h.class_weight, nb_coef, 0.5)
    blended = Model(model.labels, model.features, head, model.head_labels, None, model.metadata)
    expected = 0.5 * h.proba(X) + 0.5 * mine
    assert np.allclose(blended.proba_matrix(texts)[:, blended._head_cols], expected, atol=1e-5)
    again = Model.from_bytes(blended.to_bytes())
    assert again.head.blend == 0.5
    assert np.allclose(again.proba_matrix(texts), blended.proba_matrix(texts))


@pytest.mark.parametrize(
    "text", ["沈阳有一小区业主因欠物业费被物业公司起诉", "今天天气不错，我们去公园散步吧", "怎么退货"]
)
def test_vectorised_words_match_jieba(text):
    import jieba

    from knowledge.classify_hashing import BOS, EOS, WORD, _codes, _kgram_hashes, hashed_features

    def h(w: str) -> int:
        codes, _, _ = _codes([w])
        return int(_kgram_hashes(codes, len(w))[len(w) - 1, 0] ^ WORD)

    expected = sorted(h(w) for w in [BOS, *jieba.cut_for_search(text, HMM=False), EOS])
    for batch in ([text], [text, "另一条消息" * 3, "好"]):  # loop path and vectorised path
        ids, feats, n_char = hashed_features(batch)
        words = ids[n_char:] == 0
        got = sorted(int(f) for f in feats[n_char:][words] if int(f) in set(expected))
        assert got == expected


def test_plain_svm_voter_is_averaged_in_and_round_trips(model, examples):
    import numpy as np

    from knowledge.classify_linear import Calibrated, LinearHead

    texts = [ex.text for ex in examples]
    X = model.features.transform(texts)
    h = model.head
    rng = np.random.default_rng(0)
    plain = Calibrated(rng.normal(size=h.coef.shape).astype(np.float32), h.intercept * 0.5, h.platt_a, h.platt_b)
    head = LinearHead(h.coef, h.intercept, h.platt_a, h.platt_b, h.C, h.class_weight, plain=plain, mix=0.25)
    mixed = Model(model.labels, model.features, head, model.head_labels, None, model.metadata)
    q = 1 / (1 + np.exp(plain.platt_a * (np.asarray(X @ plain.coef.T) + plain.intercept) + plain.platt_b))
    expected = 0.75 * h.proba(X) + 0.25 * q
    assert np.allclose(mixed.proba_matrix(texts)[:, mixed._head_cols], expected, atol=1e-5)
    again = Model.from_bytes(mixed.to_bytes())
    assert again.head.mix == 0.25
    assert np.allclose(again.proba_matrix(texts), mixed.proba_matrix(texts))


def test_format_3_models_still_load(model):
    """/3 differs from /4 only by lacking the plain SVM voter, so stored /3 models keep working."""
    import io
    import json

    import numpy as np

    z = np.load(io.BytesIO(model.to_bytes()), allow_pickle=False)
    arrays = {k: z[k] for k in z.files if not k.startswith("plain_")}
    doc = json.loads(bytes(arrays["doc"]).decode("utf-8"))
    doc["format"] = "fanhub-classifier/3"
    del doc["head"]["mix"]
    arrays["doc"] = np.frombuffer(json.dumps(doc).encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    old = Model.from_bytes(buf.getvalue())
    assert old.head.plain is None and old.head.mix == 0.0
    assert old.predict(["这款口红怎么样"]) == model.predict(["这款口红怎么样"])


def test_held_out_rows_drop_features_the_fold_never_saw():
    import numpy as np
    import scipy.sparse as sp

    from knowledge.classify_calibrate import unseen_dropped

    Xtr = sp.csr_matrix(np.array([[1.0, 0, 0], [0, 1.0, 0]], dtype=np.float32))
    Xte = sp.csr_matrix(np.array([[0.6, 0, 0.8], [0, 0, 1.0]], dtype=np.float32))
    out = unseen_dropped(Xte, Xtr).toarray()
    assert np.allclose(out, [[1.0, 0, 0], [0, 0, 0]])
