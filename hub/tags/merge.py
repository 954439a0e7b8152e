"""Merging one tag into another: its fans, their profiles, its labelled examples and seed keywords move to the
target, and the merged tag is deleted.

A fan who carries both keeps one FanTag (the target's): manual wins over automatic, the evidence of both is kept
(strongest first). Profiles are merged too (evidence added up, manual decisions carried over unless the fan has
one for the target already), so the next message does not undo the merge. WeChat follows at the next sync: the
merged tag is deleted there (hub.tags.wechat_sync deletes the user tags of deleted hub tags), and the target's
FanTag rows that changed carry a fresh `updated_at`, so the incremental sync tags those fans with the target's
WeChat tag.
"""

from __future__ import annotations

import heapq
from dataclasses import replace
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col, select

from hub.core.models import utcnow
from hub.tags import profiles
from hub.tags.models import Example, FanProfile, FanTag, Tag
from hub.tags.taxonomy import MAX_KEYWORDS, TagError, delete_tag, get_tag
from knowledge import profile as prof

BATCH = 500


def _decayed(state: prof.TagState, ts: float) -> prof.TagState:
    """The state's evidence carried forward to `ts` (half-life decay), without changing `active`."""
    if ts <= state.ts or state.evidence == 0.0:
        return replace(state, ts=max(ts, state.ts))
    factor = 2.0 ** (-(ts - state.ts) / (profiles.PARAMS.half_life_days * 86400.0))
    return replace(state, evidence=state.evidence * factor, ts=ts)


def merge_states(a: prof.TagState, b: prof.TagState) -> prof.TagState:
    """One tag state from two: evidence added up at the later time, active if either was, the strongest evidence."""
    ts = max(a.ts, b.ts)
    a, b = _decayed(a, ts), _decayed(b, ts)
    top = tuple(heapq.nlargest(profiles.PARAMS.max_evidence, {*a.top, *b.top}))
    return prof.TagState(evidence=a.evidence + b.evidence, ts=ts, active=a.active or b.active, top=top)


def merge_profile(profile: prof.Profile, source: str, target: str) -> prof.Profile:
    """The profile with `source`'s evidence and manual decision folded into `target`."""
    tags = dict(profile.tags)
    moved = tags.pop(source, None)
    if moved is not None:
        tags[target] = merge_states(moved, tags[target]) if target in tags else moved
    manual = dict(profile.manual)
    decision = manual.pop(source, None)
    if decision is not None and target not in manual:
        manual[target] = decision
    return replace(profile, tags=tags, manual=manual)


def _merge_rows(session: Session, fan_id: int, old: FanTag, new: FanTag | None, target_id: int) -> None:
    """For a fan without a profile entry for the merged tag: carry its FanTag row over as it is."""
    stamp = utcnow()
    if new is None:
        new = FanTag(fan_id=fan_id, tag_id=target_id, source=old.source, active=old.active, score=old.score,
                     evidence=list(old.evidence or []), updated_at=stamp)
    elif old.active:
        source = "manual" if "manual" in (old.source, new.source) else new.source
        if not new.active or new.source != source:
            new.active, new.source, new.updated_at = True, source, stamp
        new.score = max(new.score, old.score)
        new.evidence = list(dict.fromkeys([*(new.evidence or []), *(old.evidence or [])]))
    session.add(new)


def _merge_fans(session: Session, source: Tag, target: Tag) -> int:
    fan_ids = list(session.exec(select(FanTag.fan_id).where(FanTag.tag_id == source.id)
                                .order_by(col(FanTag.fan_id))).all())
    tags = {name: tag for name, tag in profiles.tags_by_name(session).items() if name != source.name}
    for start in range(0, len(fan_ids), BATCH):
        chunk = fan_ids[start:start + BATCH]
        rows: dict[int, list[FanTag]] = {}
        for row in session.exec(select(FanTag).where(col(FanTag.fan_id).in_(chunk))).all():
            rows.setdefault(row.fan_id, []).append(row)
        profile_rows = {row.fan_id: row for row in
                        session.exec(select(FanProfile).where(col(FanProfile.fan_id).in_(chunk))).all()}
        for fan_id in chunk:
            fan_rows = rows.get(fan_id, [])
            old = next(r for r in fan_rows if r.tag_id == source.id)
            new = next((r for r in fan_rows if r.tag_id == target.id), None)
            row = profile_rows.get(fan_id)
            profile = profiles.profile_of(row)
            if row is not None and (source.name in profile.tags or source.name in profile.manual):
                merged = merge_profile(profile, source.name, target.name)
                profiles.save(session, row, merged)
                profiles.mirror(session, fan_id, merged, tags,
                                existing=[r for r in fan_rows if r.tag_id != source.id])
            else:
                _merge_rows(session, fan_id, old, new, target.id)
        session.flush()
    session.execute(delete(FanTag).where(col(FanTag.tag_id) == source.id))
    return len(fan_ids)


def _merge_examples(session: Session, source: Tag, target: Tag) -> int:
    moved = 0
    for example in session.exec(select(Example).where(Example.kind == "interest", Example.label == source.name)).all():
        twin = session.exec(select(Example.id).where(Example.kind == "interest", Example.text == example.text,
                                                     Example.label == target.name)).first()
        if twin is not None:
            session.delete(example)
        else:
            example.label = target.name
            session.add(example)
            moved += 1
    return moved


def merge_tags(session: Session, source_name: str, target_name: str) -> dict[str, Any]:
    """Merge tag `source_name` into `target_name` (same kind, not system) in the caller's transaction."""
    source, target = get_tag(session, source_name), get_tag(session, target_name)
    if source.id == target.id:
        raise TagError("choose another tag to merge into")
    if source.kind != target.kind:
        raise TagError(f"only tags of the same kind can be merged ({source.name} is {source.kind}, "
                       f"{target.name} is {target.kind})")
    if source.kind == "system":
        raise TagError("system tags are the hub's own and cannot be merged")
    fans = _merge_fans(session, source, target)
    examples = _merge_examples(session, source, target)
    keywords = list(dict.fromkeys([*(target.seed_keywords or []), *(source.seed_keywords or [])]))[:MAX_KEYWORDS]
    if keywords != list(target.seed_keywords or []):
        target.seed_keywords = keywords
        session.add(target)
    delete_tag(session, source.name)
    session.flush()
    return {"source": source.name, "target": target.name, "kind": target.kind, "fans": fans, "examples": examples}
