"""Issue 17: every text a fan can send — empty, one character, only separators or control characters,
10,000 characters — gives valid features and predictions in every knowledge/ entry point."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knowledge import profile as prof
from knowledge.classifier import Model, train
from knowledge.classify_features import FeatureSpace
from knowledge.classify_hashing import BOS, EOS, SEP, hashed_features
from knowledge.intents import INTENTS, train_intent_model
from knowledge.retriever import Retriever
from knowledge.tokenizer import Tokenizer

DEMO_KB = Path(__file__).parents[2] / "hub" / "demo" / "kb.jsonl"
SHORT = ["", "1", "2", "好", "嗯", " ", "  ", SEP, BOS, EOS, BOS + EOS, "\u200b", "\ufeff", "\x7f", "🙂", "?"]
TEXTS = st.one_of(
    st.sampled_from(SHORT),
    st.text(max_size=3),
    st.text(alphabet=st.sampled_from([SEP, BOS, EOS, " ", "\t", "\n", "\u200b", "\ufe0f", "1", "好"]), max_size=8),
    st.text(max_size=40),
)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def intents() -> Model:
    return train_intent_model()


@pytest.fixture(scope="module")
def interests() -> Model:
    return train([], {"美妆", "数码"}, seed_keywords={"美妆": ["口红"], "数码": ["手机"]})


@pytest.fixture(scope="module")
def kb() -> Retriever:
    return Retriever.build(json.loads(line) for line in DEMO_KB.read_text(encoding="utf-8").splitlines())


@pytest.mark.parametrize("text", SHORT)
def test_short_texts_have_features(text: str) -> None:
    # Used to fail for any text of 0-1 characters: "operands could not be broadcast together".
    ids, feats, n_char = hashed_features([text])
    assert len(ids) == len(feats) > 0 and 0 < n_char <= len(feats) and set(ids.tolist()) == {0}


@PROPERTY
@given(TEXTS, st.lists(TEXTS, max_size=3))
def test_a_text_has_the_same_features_alone_and_in_a_batch(text: str, others: list[str]) -> None:
    ids, feats, n_char = hashed_features([text])
    batch_ids, batch_feats, batch_n_char = hashed_features([*others, text, "今天天气不错"])
    mine = batch_ids == len(others)
    char_part = np.arange(len(batch_feats)) < batch_n_char
    assert sorted(feats[:n_char].tolist()) == sorted(batch_feats[mine & char_part].tolist())
    assert sorted(feats[n_char:].tolist()) == sorted(batch_feats[mine & ~char_part].tolist())


@pytest.mark.parametrize("text", ["1", "2", "好", "嗯"])
def test_one_character_messages_get_an_intent(intents: Model, text: str) -> None:
    (label, p), = intents.predict_top_p([text])
    assert label in INTENTS and 0 < p <= 1


@PROPERTY
@given(TEXTS)
def test_every_entry_point_takes_any_text(intents: Model, interests: Model, kb: Retriever, text: str) -> None:
    for model in (intents, interests):
        assert len(model.predict_top_p([text])) == 1
        probs = model.predict_proba([text])[0]
        assert all(0 <= p <= 1 for p in probs.values())
        prof.update(prof.Profile(), prof.Message("1", 0.0, probs))
    assert kb.decide(text).action in ("answer", "suggest", "handoff")
    tok = Tokenizer(["findx7"], {"手机壳": "保护壳"})
    clean = tok.normalize(text)
    tok.words(clean)
    tok.char_ngrams(clean)
    space = FeatureSpace.fit(["今天天气不错", text])
    assert space.transform([text, ""]).shape == (2, space.n_features)


def test_a_very_long_message(intents: Model, kb: Retriever) -> None:
    text = "我想问一下退货" * 1500
    assert intents.predict_top([text])[0] in INTENTS
    assert kb.decide(text).action in ("answer", "suggest", "handoff")
