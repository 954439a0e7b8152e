"""A fan's tags and interest profile when fans are merged or an identity is split off (the orchestration is
hub.conversation.identity's; this module only moves and recomputes rows, inside the caller's transaction).

Merge: the kept fan's profile is recomputed from all its messages (the merged fan's included) with the active
interest model, in id order as the worker counts them, so it is exactly the profile the fan would have had
had it always been one; the merged fan's profile and tag rows are deleted. Manual decisions are the union of
both fans' (a tag put on by hand on either stays on; a tag taken off by hand on one and put on by hand on
the other stays on). Without an interest model the two profiles' data are added up (evidence decays
linearly, so the sum is exact; only the add/remove hysteresis is approximated).

Split: both fans' profiles are recomputed from their own messages; the new fan gets a copy of the old fan's
manual decisions (an operator's "VIP" is about the person, who is likely both). Without an interest model the
old fan keeps its profile and the new one starts with the manual decisions only.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from hub.core.models import IN, Message, utcnow
from hub.tags import profiles
from hub.tags.models import FanProfile, FanTag, Tag
from hub.tags.taxonomy import interest_labels
from knowledge import profile as prof
from knowledge.classifier import Model

PREDICT_CHUNK = 2048


def manual_of(session: Session, fan_id: int) -> dict[str, bool]:
    """The fan's manual decisions: its profile's, and manual tag rows the profile does not know (older data)."""
    row = session.exec(select(FanProfile).where(FanProfile.fan_id == fan_id)).first()
    manual = dict(profiles.profile_of(row).manual)
    rows = session.exec(select(FanTag, Tag.name).join(Tag, col(Tag.id) == FanTag.tag_id)
                        .where(FanTag.fan_id == fan_id, FanTag.source == "manual")).all()
    for tag_row, name in rows:
        manual.setdefault(name, bool(tag_row.active))
    return manual


def union_manual(first: Mapping[str, bool], second: Mapping[str, bool]) -> dict[str, bool]:
    return {label: bool(first.get(label)) or bool(second.get(label)) for label in {*first, *second}}


def summary(session: Session, fan_id: int) -> dict[str, Any]:
    """What the fan carries now: active tag names (auto and manual) and messages counted."""
    rows = session.exec(select(Tag.name, FanTag.source).join(Tag, col(Tag.id) == FanTag.tag_id)
                        .where(FanTag.fan_id == fan_id, col(FanTag.active).is_(True))).all()
    row = session.exec(select(FanProfile).where(FanProfile.fan_id == fan_id)).first()
    return {"tags": sorted(name for name, _ in rows),
            "manual": sorted(name for name, source in rows if source == "manual"),
            "messages_counted": profiles.profile_of(row).messages}


def _fold(session: Session, fan_id: int, model: Model, labels: set[str], manual: Mapping[str, bool]
          ) -> tuple[prof.Profile, int]:
    """The profile from every inbound text of the fan, in id order (the worker's order), and the last id counted."""
    query = (select(Message.id, Message.sent_at, Message.text)
             .where(Message.fan_id == fan_id, Message.direction == IN, Message.kind != "event", Message.text != "")
             .order_by(col(Message.id)))
    profile = prof.Profile(manual=dict(manual))
    last = 0
    result = session.execute(query.execution_options(yield_per=PREDICT_CHUNK))
    for part in result.partitions(PREDICT_CHUNK):
        probs = model.predict_proba([r[2] for r in part], allowed=labels)
        for (message_id, sent_at, _text), p in zip(part, probs, strict=True):
            profile = prof.update(profile, prof.Message(str(message_id), profiles.ts_of(sent_at), p), profiles.PARAMS)
            last = message_id
    return profile, last


def recompute(session: Session, fan_id: int, model: Model | None, manual: Mapping[str, bool]) -> None:
    """The fan's profile from its messages (with `manual`), saved and mirrored into its tag rows."""
    row = profiles.load_row(session, fan_id, lock=True)
    if model is None:
        profile, last, version = prof.Profile(manual=dict(manual)), 0, None
    else:
        profile, last = _fold(session, fan_id, model, interest_labels(session), manual)
        version = model.version
    row.last_message_id = 0  # save() keeps the larger of old and new: this is a fresh count
    profiles.save(session, row, profile, last_message_id=last, model_version=version)
    profiles.mirror(session, fan_id, profile, profiles.tags_by_name(session))


def _evidence_at(state: prof.TagState, ts: float) -> float:
    return state.evidence * 2.0 ** (-(ts - state.ts) / (profiles.PARAMS.half_life_days * 86400.0))


def _added(a: prof.TagState, b: prof.TagState) -> prof.TagState:
    """Two fans' evidence for one tag as one: decayed to the later time and added (decay is linear)."""
    ts = max(a.ts, b.ts)
    top = tuple(heapq.nlargest(profiles.PARAMS.max_evidence, {*a.top, *b.top}))
    return prof.TagState(evidence=_evidence_at(a, ts) + _evidence_at(b, ts), ts=ts, active=a.active or b.active,
                         top=top)


def _added_profiles(a: prof.Profile, b: prof.Profile, manual: Mapping[str, bool]) -> prof.Profile:
    tags = dict(a.tags)
    for label, state in b.tags.items():
        tags[label] = _added(tags[label], state) if label in tags else state
    stamps = [t for t in (a.last_ts, b.last_ts) if t is not None]
    return prof.Profile(tags=tags, manual=dict(manual), last_ts=max(stamps) if stamps else None,
                        messages=a.messages + b.messages)


def _take_rows(session: Session, keep_id: int, other_id: int) -> None:
    """`other`'s tag rows for tags `keep` has no row for move over (the recompute then sets them, and a tag the
    merged fan's identities carry on WeChat but the kept fan does not is taken off there at the next sync); the
    rest, and `other`'s profile, go."""
    kept = select(FanTag.tag_id).where(FanTag.fan_id == keep_id)
    session.execute(update(FanTag).where(col(FanTag.fan_id) == other_id, col(FanTag.tag_id).not_in(kept))
                    .values(fan_id=keep_id), execution_options={"synchronize_session": "fetch"})
    session.execute(delete(FanTag).where(col(FanTag.fan_id) == other_id),
                    execution_options={"synchronize_session": "fetch"})
    session.execute(delete(FanProfile).where(col(FanProfile.fan_id) == other_id),
                    execution_options={"synchronize_session": "fetch"})


def _touch(session: Session, fan_id: int) -> None:
    """Every tag row of the fan counts as changed: the WeChat sync pushes it to all the fan's identities now."""
    session.execute(update(FanTag).where(col(FanTag.fan_id) == fan_id).values(updated_at=utcnow()),
                    execution_options={"synchronize_session": "fetch"})


def merge_fan_tags(session: Session, keep_id: int, other_id: int, model: Model | None) -> dict[str, Any]:
    """`other`'s tags and profile into `keep`'s (see the module's docstring). Returns what the kept fan carries."""
    manual = union_manual(manual_of(session, keep_id), manual_of(session, other_id))
    if model is None:
        rows = {r.fan_id: r for r in session.exec(select(FanProfile).where(
            col(FanProfile.fan_id).in_([keep_id, other_id])).with_for_update()).all()}
        merged = _added_profiles(profiles.profile_of(rows.get(keep_id)), profiles.profile_of(rows.get(other_id)),
                                 manual)
        last = max((r.last_message_id for r in rows.values()), default=0)
        _take_rows(session, keep_id, other_id)
        row = profiles.load_row(session, keep_id, lock=True)
        profiles.save(session, row, merged, last_message_id=last)
        profiles.mirror(session, keep_id, merged, profiles.tags_by_name(session))
    else:
        _take_rows(session, keep_id, other_id)
        recompute(session, keep_id, model, manual)
    _touch(session, keep_id)
    return summary(session, keep_id)


def split_fan_tags(session: Session, from_id: int, new_id: int, model: Model | None) -> dict[str, Any]:
    """Both fans' profiles after `new` took some of `from`'s messages; `new` gets `from`'s manual decisions."""
    manual = manual_of(session, from_id)
    if model is not None:
        recompute(session, from_id, model, manual)
    recompute(session, new_id, model, manual)
    # The identity carries the old fan's tags on WeChat: rows (inactive unless the new fan has the tag) for each, so
    # the next sync takes off what the new fan does not have.
    theirs = set(session.exec(select(FanTag.tag_id).where(FanTag.fan_id == new_id)).all())
    for tag_id in session.exec(select(FanTag.tag_id).where(FanTag.fan_id == from_id)).all():
        if tag_id not in theirs:
            session.add(FanTag(fan_id=new_id, tag_id=tag_id, source="auto", active=False))
    session.flush()
    _touch(session, new_id)
    return {"from": summary(session, from_id), "new": summary(session, new_id)}


def tag_count(session: Session, fan_id: int) -> int:
    return int(session.scalar(select(func.count()).select_from(FanTag).where(
        FanTag.fan_id == fan_id, col(FanTag.active).is_(True))) or 0)
