"""User tags of one account, with the limits and errcodes of the real API (用户标签管理).

Not thread-safe on its own: SandboxState calls it under its lock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .errors import ApiError
from .models import Fan
from .users import page

MAX_TAGS_PER_ACCOUNT = 100
MAX_TAGS_PER_FAN = 20
MAX_OPENIDS_PER_BATCH = 50
MAX_TAG_NAME_CHARS = 30
MAX_USERS_PER_PAGE = 10000
FIRST_TAG_ID = 100
# Ids 0, 1 and 2 are reserved by WeChat; a new account shows the system tag 2 (星标组).
SYSTEM_TAGS: dict[int, str] = {2: "星标组"}
RESERVED_TAG_IDS = frozenset({0, 1, 2})


class TagBook:
    def __init__(self) -> None:
        self.names: dict[int, str] = dict(SYSTEM_TAGS)
        self.next_id = FIRST_TAG_ID

    def _check_name(self, name: Any, exclude_id: int | None = None) -> str:
        if not isinstance(name, str) or not name.strip():
            raise ApiError(45157, "invalid tag name")
        if len(name) > MAX_TAG_NAME_CHARS:
            raise ApiError(45158)
        if any(n == name and i != exclude_id for i, n in self.names.items()):
            raise ApiError(45157)
        return name

    def _tag_id(self, raw: Any) -> int:
        try:
            tag_id = int(raw)
        except (TypeError, ValueError):
            raise ApiError(45159) from None
        if tag_id not in self.names:
            raise ApiError(45159)
        return tag_id

    def create(self, name: Any) -> dict[str, Any]:
        name = self._check_name(name)
        user_tags = [i for i in self.names if i not in RESERVED_TAG_IDS]
        if len(user_tags) >= MAX_TAGS_PER_ACCOUNT:
            raise ApiError(45056)
        tag_id = self.next_id
        self.next_id += 1
        self.names[tag_id] = name
        return {"id": tag_id, "name": name}

    def listing(self, fans: Mapping[str, Fan]) -> list[dict[str, Any]]:
        counts = {i: 0 for i in self.names}
        for fan in fans.values():
            for tag_id in fan.tags:
                counts[tag_id] = counts.get(tag_id, 0) + 1
        return [{"id": i, "name": n, "count": counts[i]} for i, n in sorted(self.names.items())]

    def update(self, raw_id: Any, name: Any) -> None:
        if _as_int(raw_id) in RESERVED_TAG_IDS:
            raise ApiError(45058)
        tag_id = self._tag_id(raw_id)
        self.names[tag_id] = self._check_name(name, exclude_id=tag_id)

    def delete(self, raw_id: Any, fans: Mapping[str, Fan]) -> None:
        if _as_int(raw_id) in RESERVED_TAG_IDS:
            raise ApiError(45058)
        tag_id = self._tag_id(raw_id)
        del self.names[tag_id]
        for fan in fans.values():
            if tag_id in fan.tags:
                fan.tags.remove(tag_id)

    def _batch(
        self, raw_id: Any, openids: Any, fans: Mapping[str, Fan], foreign: Callable[[str], bool]
    ) -> tuple[int, list[Fan]]:
        if not isinstance(openids, list) or not openids or len(openids) > MAX_OPENIDS_PER_BATCH:
            raise ApiError(40032)
        tag_id = self._tag_id(raw_id)
        return tag_id, [_fan(openid, fans, foreign) for openid in openids]

    def tag(self, raw_id: Any, openids: Any, fans: Mapping[str, Fan], foreign: Callable[[str], bool]) -> None:
        tag_id, targets = self._batch(raw_id, openids, fans, foreign)
        # All or nothing: refuse the whole call if one fan would go over the limit.
        for fan in targets:
            if tag_id not in fan.tags and len(fan.tags) >= MAX_TAGS_PER_FAN:
                raise ApiError(45059)
        for fan in targets:
            if tag_id not in fan.tags:
                fan.tags.append(tag_id)

    def untag(self, raw_id: Any, openids: Any, fans: Mapping[str, Fan], foreign: Callable[[str], bool]) -> None:
        tag_id, targets = self._batch(raw_id, openids, fans, foreign)
        for fan in targets:
            if tag_id in fan.tags:
                fan.tags.remove(tag_id)

    def tags_of(self, openid: Any, fans: Mapping[str, Fan], foreign: Callable[[str], bool]) -> list[int]:
        return list(_fan(openid, fans, foreign).tags)

    def users(self, raw_id: Any, next_openid: Any, fans: Mapping[str, Fan]) -> dict[str, Any]:
        tag_id = self._tag_id(raw_id)
        members = [f.openid for f in fans.values() if tag_id in f.tags]
        chunk = page(members, next_openid, MAX_USERS_PER_PAGE)
        if not chunk:
            return {"count": 0, "next_openid": ""}
        return {"count": len(chunk), "data": {"openid": chunk}, "next_openid": chunk[-1]}


def _as_int(raw: Any) -> int | None:
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


def _fan(openid: Any, fans: Mapping[str, Fan], foreign: Callable[[str], bool]) -> Fan:
    if not isinstance(openid, str) or not openid:
        raise ApiError(40003)
    fan = fans.get(openid)
    if fan is None:
        raise ApiError(49003 if foreign(openid) else 40003)
    return fan
