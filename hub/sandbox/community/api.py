"""The part of Discourse's HTTP API the hub uses: POST /posts.json (a reply in a topic, or a new topic) with
Api-Key and Api-Username, and reading topics and posts back (GET /t/<id>.json, /posts/<id>.json). Errors look
like Discourse's: 403 invalid_access, 404 not_found, 422 with the post's errors, 429 with Retry-After."""

from __future__ import annotations

import hmac
import logging
import threading
from typing import Any

from flask import Blueprint, jsonify, request

from .delivery import post_events
from .state import ALL_USERS, ForumState

log = logging.getLogger(__name__)

INVALID_ACCESS = "You are not permitted to view the requested resource. The API username or key is invalid."
NOT_FOUND = "The requested URL or resource could not be found."
MAX_RAW = 32_000


def _error(status: int, errors: list[str], error_type: str | None = None, **headers: str) -> Any:
    body: dict[str, Any] = {"errors": errors}
    if error_type:
        body["error_type"] = error_type
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers)
    return response


def _api_user(state: ForumState) -> str | None:
    """The user the request acts as, if its Api-Key and Api-Username are valid together."""
    key, username = request.headers.get("Api-Key", ""), request.headers.get("Api-Username", "")
    for known, owner in list(state.api_keys.items()):
        if key and hmac.compare_digest(known.encode(), key.encode()):
            if owner == ALL_USERS:
                return username if username in state.users else None
            return owner if username in ("", owner) else None
    return None


def _params() -> dict[str, Any]:
    data = request.get_json(silent=True) if request.is_json else None
    return data if isinstance(data, dict) else request.form.to_dict()


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def api_blueprint(state: ForumState) -> Blueprint:
    bp = Blueprint("sandbox_community_api", __name__)

    @bp.post("/posts.json")
    def create_post() -> Any:
        fault = state.take_fault()
        if fault is not None:
            if fault.status == 429:
                wait = str(fault.retry_after)
                errors = fault.errors or [f"You’ve performed this action too many times. Please wait {wait} seconds "
                                          "before trying again."]
                return _error(429, errors, "rate_limit", **{"Retry-After": wait})
            return _error(fault.status, fault.errors or [f"sandbox fault {fault.status}"])
        username = _api_user(state)
        if username is None:
            log.info("forum sandbox: refused POST /posts.json: bad Api-Key or Api-Username")
            return _error(403, [INVALID_ACCESS], "invalid_access")
        params = _params()
        raw = params.get("raw")
        if not isinstance(raw, str) or not raw.strip():
            return _error(400, ["param is missing or the value is empty: raw"], "invalid_parameters")
        if len(raw.strip()) < state.min_post_length:
            return _error(422, [f"Body is too short (minimum is {state.min_post_length} characters)"])
        if len(raw) > MAX_RAW:
            return _error(422, [f"Body is limited to {MAX_RAW} characters; you entered {len(raw)}."])
        topic_id = _int(params.get("topic_id"))
        if topic_id is None:
            title = params.get("title")
            if not isinstance(title, str) or not title.strip():
                return _error(422, ["Title can't be blank"])
            post = state.create_topic(username, title.strip(), raw, _int(params.get("category")))
        else:
            if topic_id not in state.topics:
                return _error(404, [NOT_FOUND], "not_found")
            post = state.reply(username, topic_id, raw, _int(params.get("reply_to_post_number")))
        # The forum tells its webhook about every post, the API user's own included (the hub must skip them).
        threading.Thread(target=post_events, args=(state, post.id),
                         kwargs={"created_topic": topic_id is None}, daemon=True).start()
        return jsonify(state.post_json(post))

    @bp.get("/t/<int:topic_id>.json")
    def topic(topic_id: int) -> Any:
        try:
            return jsonify(state.topic_json(topic_id))
        except KeyError:
            return _error(404, [NOT_FOUND], "not_found")

    @bp.get("/posts/<int:post_id>.json")
    def post(post_id: int) -> Any:
        found = state.posts.get(post_id)
        return jsonify(state.post_json(found)) if found else _error(404, [NOT_FOUND], "not_found")

    return bp
