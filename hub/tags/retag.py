"""`hub tags retag`: recompute every fan's interest profile from their history with the active interest model.

Fans go in batches by id; each batch's messages are streamed in (fan, id) order — the order the worker
counts them in, so a retag gives the profile the incremental path would have — and classified in
chunks, so neither many fans nor one fan with 100,000 messages is ever held in memory at once.
Operators' manual tags are kept. Messages a worker counted while the batch was being read are
caught up under the profile's row lock before it is written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from hub.core.db import session_scope
from hub.core.models import IN, Fan, Message
from hub.core.state import HubState
from hub.tags import profiles
from hub.tags.classifiers import model_for
from hub.tags.models import FanProfile, FanTag
from hub.tags.taxonomy import TagError, interest_labels
from knowledge import profile as prof
from knowledge.classifier import Model

FAN_BATCH = 500
PREDICT_CHUNK = 4096


class RetagError(TagError):
    pass


def _texts(fan_lo: int, fan_hi: int) -> Any:
    query = select(Message.fan_id, Message.id, Message.sent_at, Message.text).where(
        Message.fan_id >= fan_lo, Message.fan_id <= fan_hi, Message.direction == IN,
        Message.kind != "event", Message.text != "")
    return query.order_by(Message.fan_id, Message.id)  # type: ignore[arg-type]


def _fold(model: Model, labels: set[str], rows: Sequence[Any], into: dict[int, prof.Profile],
          seen: dict[int, int], manual: dict[int, dict[str, bool]]) -> int:
    probs = model.predict_proba([r[3] for r in rows], allowed=labels)
    for (fan_id, message_id, sent_at, _text), p in zip(rows, probs, strict=True):
        current = into.get(fan_id) or prof.Profile(manual=manual.get(fan_id, {}))
        into[fan_id] = prof.update(current, prof.Message(str(message_id), profiles.ts_of(sent_at), p),
                                   profiles.PARAMS)
        seen[fan_id] = message_id
    return len(rows)


def _recompute(state: HubState, model: Model, labels: set[str], fan_ids: Sequence[int],
               chunk: int) -> tuple[dict[int, prof.Profile], dict[int, int], int]:
    computed: dict[int, prof.Profile] = {}
    seen: dict[int, int] = {}
    count = 0
    with Session(state.engine) as session:
        manual = {row.fan_id: dict((row.data or {}).get("manual", {})) for row in session.exec(
            select(FanProfile).where(FanProfile.fan_id.in_(fan_ids))).all()}  # type: ignore[attr-defined]
        result = session.execute(_texts(fan_ids[0], fan_ids[-1]).execution_options(yield_per=chunk))
        for part in result.partitions(chunk):
            count += _fold(model, labels, part, computed, seen, manual)
    return computed, seen, count


def _write(state: HubState, model: Model, labels: set[str], fan_ids: Sequence[int],
           computed: dict[int, prof.Profile], seen: dict[int, int]) -> None:
    with session_scope(state.engine) as session:
        profiles.ensure_rows(session, [f for f in fan_ids if f in computed])
        rows = {r.fan_id: r for r in session.exec(select(FanProfile).where(
            FanProfile.fan_id.in_(fan_ids)).with_for_update()).all()}  # type: ignore[attr-defined]
        existing: dict[int, list[FanTag]] = {}
        for tag_row in session.exec(select(FanTag).where(FanTag.fan_id.in_(fan_ids))).all():  # type: ignore[attr-defined]
            existing.setdefault(tag_row.fan_id, []).append(tag_row)
        tags = profiles.tags_by_name(session)
        now = time.time()
        for fan_id in fan_ids:
            row = rows.get(fan_id)
            profile = computed.get(fan_id)
            if profile is None and row is None:
                continue  # nothing written, nothing to tag
            assert row is not None  # created above for every fan with messages
            profile = replace(profile or prof.Profile(), manual=dict((row.data or {}).get("manual", {})))
            last = seen.get(fan_id, 0)
            if row.last_message_id > last:  # a worker counted newer messages meanwhile: add them too
                late = session.execute(_texts(fan_id, fan_id).where(
                    Message.id > last, Message.id <= row.last_message_id)).all()
                if late:
                    into = {fan_id: profile}
                    _fold(model, labels, late, into, seen, {})
                    profile = into[fan_id]
            profiles.save(session, row, profile, last_message_id=max(seen.get(fan_id, 0), last),
                          model_version=model.version)
            profiles.mirror(session, fan_id, profile, tags, now=now, existing=existing.get(fan_id, []))


def retag_all(state: HubState, progress: Callable[[int], None] | None = None, *, fan_batch: int = FAN_BATCH,
              chunk: int = PREDICT_CHUNK) -> dict[str, Any]:
    """Recompute every fan; `progress(n)` after each batch of n fans. Returns counts and timing."""
    started = time.perf_counter()
    model = model_for(state, "interest", wait=True)
    if model is None:
        raise RetagError("no interest model yet: define interest tags (hub tags add) and train (hub tags train)")
    with Session(state.engine) as session:
        labels = interest_labels(session)
        total = session.scalar(select(func.count()).select_from(Fan)) or 0
    fans = messages = 0
    after = 0
    while True:
        with Session(state.engine) as session:
            fan_ids = list(session.exec(select(Fan.id).where(Fan.id > after).order_by(Fan.id)  # type: ignore[arg-type]
                                        .limit(fan_batch)).all())
        if not fan_ids:
            break
        computed, seen, count = _recompute(state, model, labels, fan_ids, chunk)
        _write(state, model, labels, fan_ids, computed, seen)
        fans += len(fan_ids)
        messages += count
        after = fan_ids[-1]
        if progress is not None:
            progress(len(fan_ids))
    return {"fans": fans, "fans_total": total, "messages": messages, "model_version": model.version,
            "seconds": round(time.perf_counter() - started, 3)}


def total_fans(state: HubState) -> int:
    with Session(state.engine) as session:
        return session.scalar(select(func.count()).select_from(Fan)) or 0
