"""The semantic retriever: dense candidates with the real encoder, bad input, the vector cache, the fallback
to the lexical retriever, and fork safety of the encoder."""

from __future__ import annotations

import multiprocessing
import time

import numpy as np
import pytest

from knowledge.dense import DenseIndex
from knowledge.encoder import (
    CachedEncoder,
    Encoder,
    clip_message,
    clip_query,
    encoder_error,
    load_encoder,
    text_key,
)
from knowledge.retriever import Entry, Retriever
from knowledge.text import normalize
from tests.knowledge.semantic_data import FAQ


@pytest.fixture(scope="module")
def semantic(encoder: Encoder) -> Retriever:
    return Retriever.build(FAQ, encoder=encoder)


def test_vectors_are_normalised_and_queries_differ_from_passages(encoder: Encoder) -> None:
    q = encoder.query(["满多少包邮"])
    p = encoder.passage(["满多少包邮"])
    assert q.shape == p.shape == (1, q.shape[1]) and q.dtype == np.float32
    assert np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-3)
    assert not np.allclose(q, p)  # "query: " and "passage: " prefixes
    assert encoder.query([]).shape[0] == 0


@pytest.mark.parametrize(("query", "expected"), [
    ("包邮吗", "shipping-fee"),
    ("啥时候能发出来", "ship-time"),
    ("SPF多少", "sunscreen"),
    ("涂完脸又红又痒", "allergy"),
    ("專櫃地址在哪", "counters"),  # traditional characters
    ("怀孕了能用不", "pregnancy"),
])
def test_colloquial_questions_find_their_entry(semantic: Retriever, query: str, expected: str) -> None:
    assert semantic.semantic and semantic.mode == "semantic"
    hits = semantic.search(query, k=3)
    assert expected in [h.entry_id for h in hits]


def test_semantic_beats_lexical_on_words_the_entry_does_not_use(semantic: Retriever) -> None:
    queries = [("包邮吗", "shipping-fee"), ("啥时候能发出来", "ship-time"), ("怀孕了能用不", "pregnancy"),
               ("涂完脸又红又痒", "allergy"), ("积分能换啥", "member")]
    lexical = semantic.lexical_view()
    assert not lexical.semantic
    sem_top = sum(bool(h := semantic.search(q, k=1)) and h[0].entry_id == e for q, e in queries)
    lex_top = sum(bool(h := lexical.search(q, k=1)) and h[0].entry_id == e for q, e in queries)
    assert sem_top >= lex_top and sem_top >= 4


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "😀🎉👍🏻", "？？！！"])
def test_blank_and_emoji_only_queries_get_no_hits(semantic: Retriever, text: str) -> None:
    assert semantic.search(text) == []
    assert semantic.decide(text).action == "handoff"


def test_long_messages_are_clipped_before_encoding(semantic: Retriever) -> None:
    long = "我上周在你们小程序下了单，" * 800 + "请问运费怎么算，满多少包邮？"
    assert len(long) > 10_000
    clipped = clip_query(normalize(clip_message(long)))
    assert len(clipped) <= 70 and clipped.endswith("满多少包邮?")  # NFKC: a half-width question mark
    start = time.perf_counter()
    hits = semantic.search(long, k=3)
    assert time.perf_counter() - start < 5  # generous: a regression to encoding 10,000 characters takes far longer
    assert hits and hits[0].entry_id == "shipping-fee"


def test_mixed_chinese_english_pinyin(semantic: Retriever) -> None:
    hits = semantic.search("fapiao 能开吗 invoice", k=3)
    assert "invoice" in [h.entry_id for h in hits]
    assert semantic.search("baoyou ma?", k=3)  # pinyin only: some candidates, no error


def test_round_trip_keeps_vectors_and_needs_the_same_encoder(semantic: Retriever, encoder: Encoder) -> None:
    blob = semantic.to_bytes()
    again = Retriever.from_bytes(blob, encoder=encoder)
    assert again.semantic and again.dense is not None
    assert [h.entry_id for h in again.search("包邮吗", k=3)] == [h.entry_id for h in semantic.search("包邮吗", k=3)]
    without = Retriever.from_bytes(blob)  # no encoder in this process: the lexical retriever
    assert not without.semantic and without.search("运费怎么收取")[0].entry_id == "shipping-fee"


class _Counting:
    """An encoder that counts the passages it embeds."""

    def __init__(self, inner: Encoder) -> None:
        self.inner, self.name, self.passages = inner, inner.name, 0

    def query(self, texts: list[str]) -> np.ndarray:
        return self.inner.query(texts)

    def passage(self, texts: list[str]) -> np.ndarray:
        self.passages += len(texts)
        return self.inner.passage(texts)


def test_vector_cache_by_text_hash_reembeds_only_the_edited_entry(semantic: Retriever, encoder: Encoder) -> None:
    assert semantic.dense is not None
    cache = semantic.dense.cache()
    counting = _Counting(encoder)
    edited = [Entry(e.id, e.question, e.similar, e.answer + "（已更新）") if e.id == "invoice" else e for e in FAQ]
    rebuilt = Retriever.build(edited, encoder=counting, vector_cache=dict(cache))  # type: ignore[arg-type]
    assert counting.passages == 1  # the question + answer vector of the edited entry; its question is unchanged
    assert rebuilt.dense is not None and len(rebuilt.dense.keys) == len(semantic.dense.keys)
    fresh = _Counting(encoder)
    Retriever.build(FAQ, encoder=fresh)  # type: ignore[arg-type]
    assert fresh.passages == len(semantic.dense.keys)
    assert text_key(encoder.name, "p", "a") != text_key(encoder.name, "q", "a")


def test_cached_encoder_reports_progress(encoder: Encoder) -> None:
    seen: list[tuple[int, int]] = []
    cached = CachedEncoder(encoder)
    DenseIndex.build(cached, [(e.question, e.similar, e.answer) for e in FAQ[:3]],
                     progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (6, 6)


def test_missing_or_broken_encoder_falls_back_to_lexical(tmp_path: object) -> None:
    assert load_encoder("/nonexistent/model-dir") is None
    assert encoder_error("/nonexistent/model-dir")
    assert load_encoder("off") is None and "off" in (encoder_error("off") or "")
    lexical = Retriever.build(FAQ, encoder=None)
    assert lexical.mode == "lexical" and lexical.dense is None
    assert lexical.search("运费怎么收取")[0].entry_id == "shipping-fee"


def _encode_in_child(queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    enc = load_encoder()
    queue.put(None if enc is None else float(enc.query(["退货"])[0][0]))


def test_a_forked_child_can_encode_after_the_parent_did(encoder: Encoder) -> None:
    encoder.query(["父进程先编码一次"])
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_encode_in_child, args=(queue,))
    child.start()
    child.join(60)
    if child.is_alive():
        child.kill()
        pytest.fail("a forked child hung on its first encode")
    assert child.exitcode == 0 and queue.get(timeout=5) is not None
