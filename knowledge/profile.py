"""A fan's interest profile, as pure functions over plain data.

Each message's per-tag probability above a floor is evidence; evidence decays with a half-life.
A tag's score is 1 - exp(-evidence), so one confident message is enough to tag, a few weak ones
add up, and chit-chat (probabilities below the floor) adds nothing however much of it there is.
Hysteresis: a tag is added when its score reaches `add_at` and removed only when it falls below
`remove_at`, so a fan does not flicker in and out of an audience. Manual tags always win.

Incremental: `update(profile, message)` for messages in time order gives exactly the profile that
`recompute(history)` gives. Per-tag state is updated lazily (only tags a message has evidence for),
so a fan with 100,000 messages costs one short loop.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

LN2 = math.log(2)


@dataclass(frozen=True)
class ProfileParams:
    half_life_days: float = 30.0
    floor: float = 0.3  # probabilities at or below count as no evidence
    add_at: float = 0.6  # score to add an automatic tag
    remove_at: float = 0.35  # score below which an automatic tag is removed
    max_evidence: int = 5  # message ids kept per tag

    def __post_init__(self) -> None:
        if not 0 <= self.remove_at <= self.add_at <= 1:
            raise ValueError("need 0 <= remove_at <= add_at <= 1")
        if self.half_life_days <= 0 or not 0 <= self.floor < 1:
            raise ValueError("need half_life_days > 0 and 0 <= floor < 1")


@dataclass(frozen=True)
class Message:
    """What the profile needs of a message: its id, time (unix seconds) and the classifier output.

    probs == {} means nothing was classified (an image, voice without recognition): no change.
    """

    id: str
    ts: float
    probs: Mapping[str, float]


@dataclass(frozen=True)
class TagState:
    evidence: float = 0.0  # decayed evidence as of `ts`
    ts: float = 0.0
    active: bool = False
    # (key, message id): key = log(contribution) + ts·ln2/half-life, so ranking by key ranks by
    # current decayed weight at any later time, and the top never has to be recomputed.
    top: tuple[tuple[float, str], ...] = ()


@dataclass(frozen=True)
class Profile:
    tags: Mapping[str, TagState] = field(default_factory=dict)
    manual: Mapping[str, bool] = field(default_factory=dict)  # label → True added / False removed
    last_ts: float | None = None
    messages: int = 0


@dataclass(frozen=True)
class TagView:
    label: str
    score: float
    source: str  # "manual" or "auto"
    evidence: tuple[str, ...]  # message ids, strongest first


def score_of(evidence: float) -> float:
    return 1.0 - math.exp(-evidence)


def _decay(state: TagState, ts: float, p: ProfileParams) -> TagState:
    if ts <= state.ts or state.evidence == 0.0:
        return replace(state, ts=max(ts, state.ts))
    factor = 2.0 ** (-(ts - state.ts) / (p.half_life_days * 86400.0))
    ev = state.evidence * factor
    active = state.active and score_of(ev) >= p.remove_at
    return replace(state, evidence=ev, ts=ts, active=active)


def _add(state: TagState, msg_id: str, ts: float, contribution: float, p: ProfileParams) -> TagState:
    state = _decay(state, ts, p)
    # A message older than the state (out of order) is decayed to the state's time.
    weight = contribution * 2.0 ** (-(state.ts - ts) / (p.half_life_days * 86400.0))
    ev = state.evidence + weight
    active = state.active or score_of(ev) >= p.add_at
    key = math.log(contribution) + ts * LN2 / (p.half_life_days * 86400.0)
    top = state.top
    if len(top) < p.max_evidence or (key, msg_id) > top[-1]:
        top = tuple(heapq.nlargest(p.max_evidence, (*top, (key, msg_id))))
    return TagState(evidence=ev, ts=state.ts, active=active, top=top)


def update(profile: Profile, message: Message, params: ProfileParams = ProfileParams()) -> Profile:
    """The profile after one more message."""
    if not message.probs:
        return profile
    span = 1.0 - params.floor
    tags = dict(profile.tags)
    for label, prob in message.probs.items():
        if prob > params.floor:
            contribution = min(1.0, (prob - params.floor) / span)
            tags[label] = _add(tags.get(label, TagState(ts=message.ts)), message.id, message.ts,
                               contribution, params)
    last = message.ts if profile.last_ts is None else max(profile.last_ts, message.ts)
    return Profile(tags=tags, manual=profile.manual, last_ts=last, messages=profile.messages + 1)


def recompute(
    history: Iterable[Message], manual: Mapping[str, bool] | None = None,
    params: ProfileParams = ProfileParams(),
) -> Profile:
    """The profile from a fan's whole history (sorted by time, then id)."""
    profile = Profile(manual=dict(manual or {}))
    for message in sorted(history, key=lambda m: (m.ts, m.id)):
        profile = update(profile, message, params)
    return profile


def set_manual(profile: Profile, label: str, on: bool | None) -> Profile:
    """An operator adds (True) or removes (False) a tag by hand; None hands it back to automation."""
    manual = dict(profile.manual)
    if on is None:
        manual.pop(label, None)
    else:
        manual[label] = on
    return replace(profile, manual=manual)


def view(
    profile: Profile, now: float, params: ProfileParams = ProfileParams(),
    allowed: Collection[str] | None = None,
) -> list[TagView]:
    """The fan's tags at time `now`, strongest first. `allowed` drops deleted tags."""
    out: list[TagView] = []
    for label, state in profile.tags.items():
        if allowed is not None and label not in allowed:
            continue
        s = _decay(state, now, params)
        if s.active and profile.manual.get(label) is not False:
            src = "manual" if profile.manual.get(label) else "auto"
            out.append(TagView(label, score_of(s.evidence), src, tuple(m for _, m in state.top)))
    for label, on in profile.manual.items():
        if on and label not in {v.label for v in out} and (allowed is None or label in allowed):
            state = profile.tags.get(label)
            score = score_of(_decay(state, now, params).evidence) if state else 0.0
            out.append(TagView(label, score, "manual", tuple(m for _, m in state.top) if state else ()))
    return sorted(out, key=lambda v: (-(v.source == "manual"), -v.score, v.label))


def scores(profile: Profile, now: float, params: ProfileParams = ProfileParams()) -> dict[str, float]:
    """Every tag's current score, tagged or not (for explanations and audiences by threshold)."""
    return {lab: score_of(_decay(s, now, params).evidence) for lab, s in profile.tags.items()}


def to_dict(profile: Profile) -> dict[str, Any]:
    """JSON-ready form for storage."""
    return {
        "tags": {
            lab: {"evidence": s.evidence, "ts": s.ts, "active": s.active, "top": [list(t) for t in s.top]}
            for lab, s in profile.tags.items()
        },
        "manual": dict(profile.manual),
        "last_ts": profile.last_ts,
        "messages": profile.messages,
    }


def from_dict(data: Mapping[str, Any]) -> Profile:
    tags = {
        lab: TagState(float(s["evidence"]), float(s["ts"]), bool(s["active"]),
                      tuple((float(k), str(m)) for k, m in s["top"]))
        for lab, s in data.get("tags", {}).items()
    }
    return Profile(tags=tags, manual={k: bool(v) for k, v in data.get("manual", {}).items()},
                   last_ts=data.get("last_ts"), messages=int(data.get("messages", 0)))
