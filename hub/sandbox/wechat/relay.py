"""The emulator acting as WeChat: a fan says something, WeChat records the interaction (48 h window,
quota reset) and pushes the signed message to the account's server, then reads the passive reply."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .fan import FanSimulator, SimResult, new_msg_id, new_ticket
from .models import AppConfig
from .state import SandboxState
from .wire import FieldValue

log = logging.getLogger(__name__)
EVENT_NAMES = {
    e.lower(): e
    for e in ("subscribe", "unsubscribe", "SCAN", "CLICK", "VIEW", "LOCATION", "scancode_push", "scancode_waitmsg")
}


class RelayError(ValueError):
    """The say request is unusable (400), or the app is not set up to deliver (409)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _fields(body: Mapping[str, Any]) -> tuple[str, dict[str, FieldValue], str, str | None]:
    """(MsgType, fields, a one-line description, the interaction key) from a say request."""
    msg_id = body.get("msg_id") or new_msg_id()
    if not isinstance(msg_id, int):
        raise RelayError("msg_id must be an integer")
    if "text" in body:
        text = body["text"]
        if not isinstance(text, str) or not text:
            raise RelayError("text must be a non-empty string")
        return "text", {"Content": text, "MsgId": msg_id}, text, None
    if "event" in body:
        event = EVENT_NAMES.get(str(body["event"]).lower(), str(body["event"]))
        key = body.get("key")
        fields: dict[str, FieldValue] = {"Event": event}
        if key is not None:
            fields["EventKey"] = str(key)
        if event in ("subscribe", "SCAN") and key:
            fields["Ticket"] = new_ticket()
        if event == "LOCATION":
            fields.update(Latitude=float(body.get("lat", 0)), Longitude=float(body.get("lon", 0)), Precision=65.0)
        return "event", fields, f"[{event}{' ' + str(key) if key else ''}]", event
    if "msg_type" in body:
        raw = body.get("fields")
        if not isinstance(raw, dict) or not all(isinstance(v, str | int | float) for v in raw.values()):
            raise RelayError("fields must be an object of strings and numbers")
        msg_type = str(body["msg_type"])
        fields = dict(raw)
        fields.setdefault("MsgId", msg_id)
        return msg_type, fields, f"[{msg_type}]", None
    raise RelayError("say needs text, event (with optional key) or msg_type with fields")


def simulator_for(config: AppConfig, attempts: int) -> FanSimulator:
    if not config.webhook_url or not config.token:
        raise RelayError(f"app {config.appid} has no webhook: register it with webhook_url and token first", 409)
    return FanSimulator(
        config.webhook_url,
        config.token,
        config.appid,
        config.aes_key,
        mode=config.mode,
        original_id=config.original_id,
        attempts=attempts,
    )


def say(state: SandboxState, openid: str, body: Mapping[str, Any]) -> tuple[SimResult, dict[str, Any]]:
    """Deliver one fan message or event; returns the result and the fan's state afterwards."""
    appid = body.get("appid")
    config = state.app(appid) if isinstance(appid, str) else None
    if config is None:
        raise RelayError(f"unknown appid {appid!r}: register it with POST /sandbox/apps", 404)
    attempts = body.get("attempts", 3)
    if not isinstance(attempts, int) or not 1 <= attempts <= 3:
        raise RelayError("attempts must be 1, 2 or 3")
    msg_type, fields, description, event = _fields(body)
    sim = simulator_for(config, attempts)
    # WeChat records the interaction when the fan acts, whatever the server then does.
    state.record_interaction(config.appid, openid, event or msg_type, str(fields.get("EventKey", "")) or None)
    state.log(config.appid, openid, "in", event or msg_type, description)
    try:
        result = sim.send(openid, msg_type, fields)
    finally:
        sim.close()
    state.count("deliveries")
    if result.error:
        state.count("delivery_errors")
        log.info("sandbox: delivery to %s for %s: %s", config.webhook_url, config.appid, result.error)
    if result.reply is not None or result.error:
        text = result.reply_text if result.reply_text is not None else f"[{result.msg_type or 'no reply'}]"
        state.log(config.appid, openid, "passive", result.msg_type or "-", text, result.error or "ok")
    fan = next((f for f in state.fans(config.appid) if f["openid"] == openid), {})
    return result, fan
