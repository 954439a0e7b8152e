"""Fans' interest profiles in the database: the FanProfile row (knowledge.profile's data) and its mirror in
FanTag rows, which audiences, the consoles and the WeChat tag sync read.

FanTag.updated_at changes only when a tag's membership changes (active or source), so the WeChat sync
can push just the changes since its last run; score and evidence are refreshed in place.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from hub.core.models import Fan, Message, utcnow
from hub.tags.models import FanProfile, FanTag, Tag
from hub.tags.taxonomy import TagNotFound, get_tag
from knowledge import profile as prof

PARAMS = prof.ProfileParams()
MAX_AUTO_TAGS = 20  # more automatic tags than WeChat allows per fan would only be noise


def ts_of(moment: datetime) -> float:
    return moment.timestamp()


def load_row(session: Session, fan_id: int, *, lock: bool = False) -> FanProfile:
    """The fan's profile row, created if missing; with `lock`, held until the transaction ends (PostgreSQL)."""
    query = select(FanProfile).where(FanProfile.fan_id == fan_id)
    row = session.exec(query.with_for_update() if lock else query).first()
    if row is not None:
        return row
    try:
        with session.begin_nested():
            session.add(FanProfile(fan_id=fan_id, data={}))
    except IntegrityError:  # another worker created it first
        pass
    return session.exec(query.with_for_update() if lock else query).one()


def ensure_rows(session: Session, fan_ids: Iterable[int]) -> None:
    """Create missing profile rows for many fans at once (a concurrent creator wins quietly)."""
    values = [{"fan_id": f, "data": {}, "last_message_id": 0, "model_version": "", "updated_at": utcnow()}
              for f in fan_ids]
    if not values:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    else:
        for value in values:
            load_row(session, value["fan_id"])
        return
    session.execute(insert(FanProfile).values(values).on_conflict_do_nothing(index_elements=["fan_id"]))


def profile_of(row: FanProfile | None) -> prof.Profile:
    return prof.from_dict(row.data) if row is not None and row.data else prof.Profile()


def save(session: Session, row: FanProfile, profile: prof.Profile, last_message_id: int | None = None,
         model_version: str | None = None) -> None:
    row.data = prof.to_dict(profile)
    if last_message_id is not None:
        row.last_message_id = max(row.last_message_id, last_message_id)
    if model_version is not None:
        row.model_version = model_version
    row.updated_at = utcnow()
    session.add(row)


def tags_by_name(session: Session) -> dict[str, Tag]:
    return {t.name: t for t in session.exec(select(Tag).where(Tag.deleted_at == None)).all()}  # noqa: E711


def mirror(session: Session, fan_id: int, profile: prof.Profile, tags: Mapping[str, Tag],
           now: float | None = None, existing: Iterable[FanTag] | None = None) -> list[prof.TagView]:
    """Make the fan's FanTag rows match the profile's active tags (hysteresis and manual overrides included)."""
    now = max(time.time() if now is None else now, profile.last_ts or 0.0)
    views = prof.view(profile, now, PARAMS, allowed=tags.keys())
    auto = [v for v in views if v.source == "auto"][:MAX_AUTO_TAGS]
    wanted = {v.label: v for v in [*(v for v in views if v.source == "manual"), *auto]}
    rows = {r.tag_id: r for r in (existing if existing is not None else
                                  session.exec(select(FanTag).where(FanTag.fan_id == fan_id)).all())}
    stamp = utcnow()
    for label, v in wanted.items():
        tag = tags[label]
        row = rows.pop(tag.id, None) or FanTag(fan_id=fan_id, tag_id=tag.id, active=False, source="")
        evidence = [int(m) for m in v.evidence]
        if not row.active or row.source != v.source:
            row.active, row.source, row.updated_at = True, v.source, stamp
        row.score, row.evidence = round(v.score, 4), evidence
        session.add(row)
    removed = {tags[label].id for label, on in profile.manual.items() if on is False and label in tags}
    for tag_id, row in rows.items():
        source = "manual" if tag_id in removed else "auto"
        if row.active or row.source != source:
            row.active, row.source, row.updated_at = False, source, stamp
            session.add(row)
    return views


def set_manual_tag(session: Session, fan_id: int, name: str, on: bool | None) -> list[prof.TagView]:
    """An operator puts a tag on a fan (True), takes it off (False) or hands it back to automation (None).

    Manual decisions always win over the classifier's, whatever the fan writes afterwards.
    """

    if session.get(Fan, fan_id) is None:
        raise TagNotFound(f"no fan {fan_id}")
    tag = get_tag(session, name)
    row = load_row(session, fan_id, lock=True)
    profile = prof.set_manual(profile_of(row), tag.name, on)
    save(session, row, profile)
    return mirror(session, fan_id, profile, tags_by_name(session))


def interests_of(session: Session, fan_id: int) -> dict[str, Any]:
    """A fan's tags now (score, auto or manual, the messages that are its evidence), as the API and CLI show it."""
    row = session.exec(select(FanProfile).where(FanProfile.fan_id == fan_id)).first()
    profile = profile_of(row)
    tags = tags_by_name(session)
    now = max(time.time(), profile.last_ts or 0.0)
    views = prof.view(profile, now, PARAMS, allowed=tags.keys())
    ids = {int(m) for v in views for m in v.evidence}
    texts = dict(session.exec(select(Message.id, Message.text).where(Message.id.in_(ids))).all()) if ids else {}  # type: ignore[union-attr]
    scores = {k: round(v, 4) for k, v in prof.scores(profile, now, PARAMS).items() if k in tags}
    return {
        "fan_id": fan_id,
        "model_version": row.model_version if row else None,
        "messages_counted": profile.messages,
        "tags": [{"tag": v.label, "kind": tags[v.label].kind, "score": round(v.score, 4), "source": v.source,
                  "evidence": [{"message_id": int(m), "text": texts.get(int(m), "")} for m in v.evidence]}
                 for v in views],
        "scores": scores,
        "manual": {k: v for k, v in profile.manual.items() if k in tags},
    }
