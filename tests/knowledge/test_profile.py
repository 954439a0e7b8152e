from __future__ import annotations

import random
import time

import pytest

from knowledge.profile import (
    Message,
    Profile,
    ProfileParams,
    from_dict,
    recompute,
    scores,
    set_manual,
    to_dict,
    update,
    view,
)

DAY = 86400.0
T0 = 1_700_000_000.0


def msgs(rng: random.Random, n: int, labels=("美妆", "数码", "汽车")) -> list[Message]:
    out = []
    ts = T0
    for i in range(n):
        ts += rng.random() * DAY
        out.append(Message(f"m{i}", ts, {lab: rng.random() ** 3 for lab in labels}))
    return out


def test_incremental_equals_recomputation():
    history = msgs(random.Random(0), 500)
    p = Profile()
    for m in history:
        p = update(p, m)
    assert p == recompute(history)
    assert p.messages == 500


def test_one_confident_message_tags_and_chitchat_does_not():
    p = recompute([Message("a", T0, {"美妆": 0.95, "数码": 0.1})])
    assert [(v.label, v.source, v.evidence) for v in view(p, T0)] == [("美妆", "auto", ("a",))]
    chat = recompute([Message(f"c{i}", T0 + i, {"美妆": 0.2, "数码": 0.25}) for i in range(1000)])
    assert view(chat, T0 + 1000) == []


def test_weak_messages_add_up():
    one = recompute([Message("a", T0, {"数码": 0.6})])
    assert view(one, T0) == []
    three = recompute([Message(x, T0 + i, {"数码": 0.6}) for i, x in enumerate("abc")])
    assert [v.label for v in view(three, T0 + 3)] == ["数码"]


def test_decay_and_hysteresis():
    params = ProfileParams(half_life_days=10, add_at=0.6, remove_at=0.3)
    p = recompute([Message("a", T0, {"汽车": 1.0})], params=params)
    score0 = scores(p, T0, params)["汽车"]
    assert scores(p, T0 + 10 * DAY, params)["汽车"] < score0
    # still tagged while between the thresholds, though below the adding threshold
    mid = T0 + 12 * DAY
    assert 0.3 <= scores(p, mid, params)["汽车"] < 0.6
    assert [v.label for v in view(p, mid, params)] == ["汽车"]
    assert view(p, T0 + 60 * DAY, params) == []
    # a new moderate message later must not resurrect the tag unless it reaches add_at again
    later = update(p, Message("b", T0 + 60 * DAY, {"汽车": 0.55}), params)
    assert view(later, T0 + 60 * DAY, params) == []


def test_evidence_is_capped_and_strongest_recent_first():
    history = [Message(f"m{i}", T0 + i * DAY, {"美妆": 0.9}) for i in range(50)]
    (v,) = view(recompute(history), T0 + 50 * DAY)
    assert v.evidence == ("m49", "m48", "m47", "m46", "m45")


def test_manual_tags_win():
    p = recompute([Message("a", T0, {"美妆": 0.95})])
    p = set_manual(p, "美妆", False)
    p = set_manual(p, "数码", True)
    got = {(v.label, v.source) for v in view(p, T0)}
    assert got == {("数码", "manual")}
    p = update(p, Message("b", T0 + 1, {"美妆": 0.99}))  # more evidence does not override the operator
    assert {v.label for v in view(p, T0 + 1)} == {"数码"}
    p = set_manual(p, "美妆", None)
    assert {v.label for v in view(p, T0 + 1)} == {"数码", "美妆"}


def test_images_and_deleted_tags():
    p = recompute([Message("a", T0, {"美妆": 0.95, "数码": 0.95})])
    assert update(p, Message("img", T0 + 5, {})) is p  # nothing recognised: no change at all
    assert [v.label for v in view(p, T0, allowed={"数码"})] == ["数码"]


def test_storage_round_trip():
    p = set_manual(recompute(msgs(random.Random(1), 50)), "汽车", True)
    assert from_dict(to_dict(p)) == p


def test_params_are_checked():
    with pytest.raises(ValueError):
        ProfileParams(add_at=0.2, remove_at=0.5)


def test_fan_with_100000_messages():
    history = msgs(random.Random(2), 100_000)
    started = time.perf_counter()
    p = recompute(history)
    assert time.perf_counter() - started < 30  # generous: the point is it finishes, not a benchmark
    assert p.messages == 100_000
    assert all(len(v.evidence) <= 5 for v in view(p, history[-1].ts))
    q = p
    for m in msgs(random.Random(3), 10):
        m2 = Message("x" + m.id, history[-1].ts + (m.ts - T0), m.probs)
        q = update(q, m2)
        history.append(m2)
    assert q == recompute(history)
