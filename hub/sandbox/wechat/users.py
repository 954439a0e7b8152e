"""Fan records as the user APIs return them (user/info, user/get)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import ApiError
from .models import Fan

PAGE_SIZE = 10000


def user_info(fan: Fan) -> dict[str, Any]:
    if not fan.subscribe:
        info: dict[str, Any] = {"subscribe": 0, "openid": fan.openid}
    else:
        # Since 2021-12-27 the real API returns no nickname / headimgurl (nor sex and region).
        info = {
            "subscribe": 1,
            "openid": fan.openid,
            "language": fan.language,
            "subscribe_time": fan.subscribe_time,
            "remark": fan.remark,
            "groupid": 0,
            "tagid_list": list(fan.tags),
            "subscribe_scene": fan.subscribe_scene,
            "qr_scene": fan.qr_scene,
            "qr_scene_str": fan.qr_scene_str,
        }
    if fan.unionid:
        info["unionid"] = fan.unionid
    return info


def page(openids: Sequence[str], next_openid: Any, size: int = PAGE_SIZE) -> list[str]:
    """The page of openids after next_openid (from the start when empty); 40003 for an unknown one."""
    start = 0
    if next_openid:
        if next_openid not in openids:
            raise ApiError(40003)
        start = openids.index(next_openid) + 1
    return list(openids[start : start + size])


def followers(openids: Sequence[str], next_openid: Any) -> dict[str, Any]:
    chunk = page(openids, next_openid)
    result: dict[str, Any] = {"total": len(openids), "count": len(chunk)}
    if chunk:
        result["data"] = {"openid": chunk}
    result["next_openid"] = chunk[-1] if chunk else ""
    return result
