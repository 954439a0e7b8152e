"""The HTML page at / that lets a person running the demo watch fans, messages and replies arrive."""

from __future__ import annotations

import time
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from .state import SandboxState

_env = Environment(
    loader=PackageLoader("hub.sandbox.wechat", "."),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
_env.filters["clock"] = lambda ts: time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def render_page(state: SandboxState, appid: str | None = None) -> str:
    by_fan: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for entry in state.conversation(appid):
        by_fan.setdefault((entry["appid"], entry["openid"]), []).append(entry)
    fans = state.fans(appid)
    known = {(f["appid"], f["openid"]) for f in fans}
    for key in by_fan:
        if key not in known:  # a fan forgotten by a reset but still in the log
            fans.append(
                {
                    "appid": key[0],
                    "openid": key[1],
                    "subscribe": None,
                    "window_open": False,
                    "quota_left": 0,
                    "window_until": 0,
                    "tags": [],
                }
            )
    return _env.get_template("page.html").render(
        apps=[c.public() for c in state.apps()],
        fans=fans,
        conversations=by_fan,
        stats=state.stats(),
        selected=appid,
    )
