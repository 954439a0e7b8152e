"""The WeCom emulation as a Flask app and a threaded server for it.

/cgi-bin/gettoken and /cgi-bin/message/send behave like qyapi.weixin.qq.com's (HTTP 200 with errcode);
/sandbox/... sets it up and shows what happened:

- POST /sandbox/apps {corpid, secret, agentid, token, aes_key, webhook_url, members?}: an app (201)
- POST /sandbox/members/<userid>/say {corpid, agentid, text | event [, key]}: the member writes to the hub
  (encrypted and signed like WeCom, POSTed to the app's webhook_url); answers what the hub replied
- GET /sandbox/outbox?corpid=&agentid=&touser=: what the hub sent through message/send, oldest first
- POST /sandbox/faults {endpoint: gettoken | message/send, errcode, count}: the next calls fail so (201)
- POST /sandbox/tokens/expire: every token answers 42001 from now on; GET /sandbox/stats; POST /sandbox/reset
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, make_server

from hub.sandbox.serving import serve_until_interrupted
from hub.sandbox.wechat.app import RedactingRequestHandler

from .member import MemberSimulator
from .state import ApiError, App, Fault, SandboxState

log = logging.getLogger(__name__)
ENDPOINTS = ("gettoken", "message/send")


class BadRequest(ValueError):
    pass


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True, force=True)
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def _str(data: dict[str, Any], key: str, required: bool = True) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or (required and not value):
        raise BadRequest(f"{key} must be a non-empty string")
    return value


def _int(value: Any, key: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{key} must be a whole number") from None


def api_blueprint(state: SandboxState) -> Blueprint:
    bp = Blueprint("wecom_api", __name__, url_prefix="/cgi-bin")

    @bp.get("/gettoken")
    def gettoken() -> Any:
        try:
            token = state.issue_token(request.args.get("corpid"), request.args.get("corpsecret"))
        except ApiError as exc:
            return jsonify(exc.body())
        return jsonify({"errcode": 0, "errmsg": "ok", "access_token": token.value, "expires_in": 7200})

    @bp.post("/message/send")
    def message_send() -> Any:
        try:
            return jsonify(state.send(request.args.get("access_token"), request.get_json(silent=True, force=True)))
        except ApiError as exc:
            return jsonify(exc.body())

    return bp


def control_blueprint(state: SandboxState) -> Blueprint:
    bp = Blueprint("wecom_control", __name__, url_prefix="/sandbox")

    @bp.errorhandler(BadRequest)
    def bad_request(exc: BadRequest) -> Any:
        return jsonify({"error": str(exc)}), 400

    @bp.post("/apps")
    def add_app() -> Any:
        data = _body()
        members = data.get("members") or []
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise BadRequest("members must be a list of UserIDs")
        app = App(_str(data, "corpid"), _str(data, "secret"), _int(data.get("agentid"), "agentid"),
                  _str(data, "token", False), _str(data, "aes_key", False), _str(data, "webhook_url", False),
                  set(members))
        return jsonify(state.add_app(app).public()), 201

    @bp.post("/members/<userid>/say")
    def say(userid: str) -> Any:
        data = _body()
        app = state.app(_str(data, "corpid"), _int(data.get("agentid"), "agentid"))
        if app is None or not app.webhook_url:
            raise BadRequest("no such app with a webhook_url; POST /sandbox/apps first")
        state.add_member(app.corp_id, app.agent_id, userid)  # a member who writes is in the app's range
        member = MemberSimulator(app.webhook_url, app.token, app.aes_key, app.corp_id, app.agent_id)
        try:
            if data.get("event"):
                result = member.event(userid, _str(data, "event"), data.get("key") or None)
            else:
                result = member.text(userid, _str(data, "text"))
        finally:
            member.close()
        return jsonify(result.as_dict())

    @bp.get("/outbox")
    def outbox() -> Any:
        corpid, agentid, touser = (request.args.get(k) for k in ("corpid", "agentid", "touser"))
        with state.lock:
            items = [m for m in state.outbox if (not corpid or m["corpid"] == corpid)
                     and (not agentid or str(m["agentid"]) == agentid) and (not touser or m["touser"] == touser)]
        return jsonify(items)

    @bp.post("/faults")
    def add_fault() -> Any:
        data = _body()
        endpoint = _str(data, "endpoint")
        if endpoint not in ENDPOINTS:
            raise BadRequest(f"endpoint must be one of {', '.join(ENDPOINTS)}")
        fault = Fault(endpoint, _int(data.get("errcode"), "errcode"), _int(data.get("count", 1), "count"))
        with state.lock:
            state.faults.append(fault)
        return jsonify({"endpoint": fault.endpoint, "errcode": fault.errcode, "count": fault.count}), 201

    @bp.post("/tokens/expire")
    def expire_tokens() -> Any:
        return jsonify({"expired": state.expire_tokens()})

    @bp.get("/stats")
    def stats() -> Any:
        with state.lock:
            return jsonify({"apps": len(state.apps), "token_fetches": state.token_fetches,
                            "sent": len(state.outbox)})

    @bp.post("/reset")
    def reset() -> Any:
        state.reset()
        return jsonify({"reset": True})

    return bp


def create_sandbox_app(state: SandboxState | None = None) -> Flask:
    """A Flask app emulating the WeCom API (/cgi-bin/...) plus the /sandbox/ controls."""
    app = Flask(__name__)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["sandbox_wecom"] = state = state or SandboxState()
    app.register_blueprint(api_blueprint(state))
    app.register_blueprint(control_blueprint(state))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        status = exc.code or 500
        if request.path.startswith("/cgi-bin/"):
            return jsonify({"errcode": -1, "errmsg": f"{request.path} is not emulated"}), status
        return jsonify({"error": f"{exc.name}: {exc.description}"}), status

    return app


def make_sandbox_server(host: str = "127.0.0.1", port: int = 0, state: SandboxState | None = None) -> BaseWSGIServer:
    """A threaded werkzeug server for the emulation (port 0 picks a free one: `server.server_port`)."""
    return make_server(host, port, create_sandbox_app(state), threaded=True, request_handler=RedactingRequestHandler)


def serve(host: str = "127.0.0.1", port: int = 8082, state: SandboxState | None = None) -> None:
    """Run the emulation until interrupted (what `hub sandbox wecom --port N` runs)."""
    serve_until_interrupted(make_sandbox_server(host, port, state), "WeCom sandbox", log)
