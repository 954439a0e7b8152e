"""The emulated Official Account HTTP API under /cgi-bin/: same paths, parameters, JSON shapes and
errcodes as api.weixin.qq.com, so wechatpy's WeChatClient works against it unchanged."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from flask import Blueprint, Response, jsonify, request

from .errors import ApiError
from .state import SandboxState

log = logging.getLogger(__name__)
OK: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}


def json_body() -> dict[str, Any]:
    """The POSTed JSON object (wechatpy sends it without a Content-Type), or 44002 / 47001."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise ApiError(44002)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(47001) from None
    if not isinstance(data, dict):
        raise ApiError(47001)
    return data


def api_blueprint(state: SandboxState) -> Blueprint:
    bp = Blueprint("sandbox_wechat_api", __name__, url_prefix="/cgi-bin")

    def app_of_request() -> str:
        return state.authenticate(request.args.get("access_token"))

    @bp.before_request
    def count_and_inject_faults() -> Any:
        endpoint = request.path.removeprefix("/cgi-bin/")
        state.count(f"call:{endpoint}")
        token = request.args.get("access_token")
        appid = request.args.get("appid") if endpoint == "token" else state.appid_of_token(token)
        fault = state.faults.take(endpoint, appid)
        if fault is None:
            return None
        log.info("sandbox: injected fault on %s (errcode %s, http %s)", endpoint, fault.errcode, fault.http_status)
        if fault.delay_s:
            time.sleep(fault.delay_s)
        body = ApiError(fault.errcode, fault.errmsg).body()
        if fault.http_status is not None:
            return jsonify(body), fault.http_status
        return jsonify(body)

    @bp.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        # Logged without the query string: it carries the access token.
        log.info("sandbox: %s %s -> errcode %s", request.method, request.path, exc.errcode)
        return jsonify(exc.body())

    @bp.get("/token")
    def token() -> Any:
        args = request.args
        issued = state.issue_token(args.get("grant_type"), args.get("appid"), args.get("secret"))
        return jsonify({"access_token": issued.value, "expires_in": int(issued.expires_at - issued.issued_at)})

    @bp.post("/message/custom/send")
    def custom_send() -> Any:
        appid = app_of_request()
        state.send_custom(appid, json_body())
        return jsonify(OK)

    @bp.get("/user/info")
    def user_info() -> Any:
        appid = app_of_request()
        return jsonify(state.user_info(appid, request.args.get("openid")))

    @bp.get("/user/get")
    def user_get() -> Any:
        appid = app_of_request()
        return jsonify(state.followers(appid, request.args.get("next_openid")))

    @bp.post("/tags/create")
    def tags_create() -> Any:
        appid, data = app_of_request(), json_body()
        tag = data.get("tag")
        return jsonify({"tag": state.tags(appid, "create", tag.get("name") if isinstance(tag, dict) else None)})

    @bp.get("/tags/get")
    def tags_get() -> Any:
        return jsonify({"tags": state.tags(app_of_request(), "list")})

    @bp.post("/tags/update")
    def tags_update() -> Any:
        appid, data = app_of_request(), json_body()
        tag = data.get("tag")
        tag = tag if isinstance(tag, dict) else {}
        state.tags(appid, "update", tag.get("id"), tag.get("name"))
        return jsonify(OK)

    @bp.post("/tags/delete")
    def tags_delete() -> Any:
        appid, data = app_of_request(), json_body()
        tag = data.get("tag")
        tag = tag if isinstance(tag, dict) else {}
        state.tags(appid, "delete", tag.get("id"))
        return jsonify(OK)

    @bp.post("/tags/members/batchtagging")
    def batch_tag() -> Any:
        appid, data = app_of_request(), json_body()
        state.tags(appid, "tag", data.get("tagid"), data.get("openid_list"))
        return jsonify(OK)

    @bp.post("/tags/members/batchuntagging")
    def batch_untag() -> Any:
        appid, data = app_of_request(), json_body()
        state.tags(appid, "untag", data.get("tagid"), data.get("openid_list"))
        return jsonify(OK)

    @bp.post("/tags/getidlist")
    def tag_ids_of_user() -> Any:
        appid, data = app_of_request(), json_body()
        return jsonify({"tagid_list": state.tags(appid, "tags_of", data.get("openid"))})

    @bp.post("/user/tag/get")
    def users_of_tag() -> Any:
        appid, data = app_of_request(), json_body()
        return jsonify(state.tags(appid, "users", data.get("tagid"), data.get("next_openid")))

    return bp
