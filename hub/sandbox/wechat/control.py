"""Sandbox-only endpoints under /sandbox/ (set-up, fan simulation, inspection, faults) and the page at /."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, jsonify, request

from .faults import Fault
from .page import render_page
from .relay import RelayError, say
from .state import SandboxState

log = logging.getLogger(__name__)


class BadRequest(ValueError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True, force=True)
    if data is None and not request.get_data().strip():
        return {}
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def _opt_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"{key} must be a string")
    return value or None


def control_blueprint(state: SandboxState) -> Blueprint:
    bp = Blueprint("sandbox_wechat_control", __name__)

    @bp.errorhandler(BadRequest)
    @bp.errorhandler(RelayError)
    def bad_request(exc: BadRequest | RelayError) -> Any:
        log.info("sandbox: rejected %s %s: %s", request.method, request.path, exc)
        return jsonify({"error": str(exc)}), exc.status

    @bp.errorhandler(ValueError)
    def invalid(exc: ValueError) -> Any:
        log.info("sandbox: rejected %s %s: %s", request.method, request.path, exc)
        return jsonify({"error": str(exc)}), 400

    @bp.errorhandler(KeyError)
    def unknown(exc: KeyError) -> Any:
        return jsonify({"error": str(exc.args[0]) if exc.args else "not found"}), 404

    @bp.post("/sandbox/apps")
    def register_app() -> Any:
        data = _body()
        appid, secret = _opt_str(data, "appid"), _opt_str(data, "secret")
        if not appid or not secret:
            raise BadRequest("appid and secret are required")
        config = state.register_app(
            appid,
            secret,
            webhook_url=_opt_str(data, "webhook_url"),
            token=_opt_str(data, "token"),
            aes_key=_opt_str(data, "aes_key"),
            mode=_opt_str(data, "mode"),  # type: ignore[arg-type]  # validated by register_app
            original_id=_opt_str(data, "original_id"),
            with_unionid=bool(data.get("with_unionid", True)),
        )
        return jsonify(config.public()), 201

    @bp.get("/sandbox/apps")
    def list_apps() -> Any:
        return jsonify([c.public() for c in state.apps()])

    @bp.post("/sandbox/fans")
    def add_fan() -> Any:
        data = _body()
        appid, openid = _opt_str(data, "appid"), _opt_str(data, "openid")
        if not appid or not openid:
            raise BadRequest("appid and openid are required")
        state.add_fan(appid, openid, unionid=_opt_str(data, "unionid"), subscribe=bool(data.get("subscribe", True)))
        return jsonify(next(f for f in state.fans(appid) if f["openid"] == openid)), 201

    @bp.get("/sandbox/fans")
    def list_fans() -> Any:
        return jsonify(state.fans(request.args.get("appid") or None))

    @bp.post("/sandbox/fans/<openid>/say")
    def fan_says(openid: str) -> Any:
        result, fan = say(state, openid, _body())
        payload = {**result.as_dict(), "fan": fan}
        return jsonify(payload), 200 if result.status is not None else 502

    @bp.get("/sandbox/outbox")
    def outbox() -> Any:
        return jsonify(state.outbox(request.args.get("appid") or None, request.args.get("openid") or None))

    @bp.get("/sandbox/conversation")
    def conversation() -> Any:
        return jsonify(state.conversation(request.args.get("appid") or None, request.args.get("openid") or None))

    @bp.post("/sandbox/faults")
    def add_fault() -> Any:
        data = _body()
        endpoint = _opt_str(data, "endpoint")
        if not endpoint:
            raise BadRequest("endpoint is required, e.g. message/custom/send or token")
        try:
            fault = Fault(
                endpoint=endpoint.removeprefix("/").removeprefix("cgi-bin/"),
                remaining=int(data.get("count", 1)),
                errcode=int(data.get("errcode", -1)),
                errmsg=_opt_str(data, "errmsg"),
                http_status=int(data["http_status"]) if data.get("http_status") is not None else None,
                delay_s=float(data.get("delay_s", 0)),
                appid=_opt_str(data, "appid"),
            )
        except (TypeError, ValueError) as exc:
            raise BadRequest(f"invalid fault: {exc}") from None
        state.faults.add(fault)
        return jsonify(fault.as_dict()), 201

    @bp.get("/sandbox/faults")
    def list_faults() -> Any:
        return jsonify(state.faults.pending())

    @bp.get("/sandbox/stats")
    def stats() -> Any:
        return jsonify(state.stats())

    @bp.post("/sandbox/reset")
    def reset() -> Any:
        state.reset(keep_apps=bool(_body().get("keep_apps", False)))
        return jsonify({"reset": True})

    @bp.post("/sandbox/clock")
    def clock() -> Any:
        try:
            seconds = float(_body().get("advance", 0))
        except (TypeError, ValueError):
            raise BadRequest("advance must be a number of seconds") from None
        if seconds < 0:
            raise BadRequest("the clock only moves forward")
        return jsonify({"now": state.advance(seconds)})

    @bp.get("/")
    def page() -> Any:
        return render_page(state, request.args.get("appid") or None)

    return bp
