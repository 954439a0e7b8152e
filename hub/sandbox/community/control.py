"""Sandbox-only endpoints under /sandbox/: set-up (API keys, the hub's webhook), playing forum users (a new
topic, a reply, an edit, a retried delivery, a ping), faults of the API, and inspection (topics, deliveries)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, jsonify, request

from .delivery import deliver, post_events, redeliver
from .page import render_page
from .state import ALL_USERS, ApiFault, ForumState

log = logging.getLogger(__name__)


class BadRequest(ValueError):
    pass


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True, force=True)
    if data is None and not request.get_data().strip():
        return {}
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def _str(data: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise BadRequest(f"{key} must be a non-empty string")
    return value


def _int(data: dict[str, Any], key: str, default: int | None = None) -> int | None:
    value = data.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadRequest(f"{key} must be a number")
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"{key} must be a number") from None


def control_blueprint(state: ForumState) -> Blueprint:
    bp = Blueprint("sandbox_community_control", __name__)

    @bp.errorhandler(BadRequest)
    def bad_request(exc: BadRequest) -> Any:
        log.info("forum sandbox: rejected %s %s: %s", request.method, request.path, exc)
        return jsonify({"error": str(exc)}), 400

    @bp.errorhandler(KeyError)
    def unknown(exc: KeyError) -> Any:
        return jsonify({"error": str(exc.args[0]) if exc.args else "not found"}), 404

    @bp.post("/sandbox/keys")
    def add_key() -> Any:
        data = _body()
        state.add_api_key(_str(data, "api_key"), _str(data, "username", required=False) or ALL_USERS)
        return jsonify({"ok": True}), 201

    @bp.post("/sandbox/webhook")
    def set_webhook() -> Any:
        data = _body()
        state.set_hook(_str(data, "url"), _str(data, "secret"))
        return jsonify({"ok": True}), 201

    @bp.post("/sandbox/say")
    def say() -> Any:
        """A forum user posts: a new topic (title, category_id) or a reply (topic_id); the webhook is told."""
        data = _body()
        username, raw = _str(data, "username"), _str(data, "raw")
        topic_id = _int(data, "topic_id")
        if topic_id is None:
            post = state.create_topic(username, _str(data, "title"), raw, _int(data, "category_id"))
        else:
            post = state.reply(username, topic_id, raw, _int(data, "reply_to_post_number"))
        deliveries = post_events(state, post.id, created_topic=topic_id is None)
        return jsonify({"post": state.post_json(post), "deliveries": deliveries})

    @bp.post("/sandbox/posts/<int:post_id>/edit")
    def edit(post_id: int) -> Any:
        data = _body()
        post = state.edit(post_id, _str(data, "raw"), bump_version=bool(data.get("bump_version", True)))
        return jsonify({"post": state.post_json(post), "deliveries": post_events(state, post.id, created_topic=False,
                                                                                 edited=True)})

    @bp.post("/sandbox/redeliver")
    def again() -> Any:
        return jsonify(redeliver(state, _int(_body(), "index", -1) or -1))

    @bp.post("/sandbox/ping")
    def ping() -> Any:
        result = deliver(state, "ping", {"ping": "OK"})
        if result is None:
            raise BadRequest("no webhook set: POST /sandbox/webhook first")
        return jsonify(result)

    @bp.post("/sandbox/faults")
    def add_fault() -> Any:
        data = _body()
        status = _int(data, "status")
        if status is None or not 400 <= status <= 599:
            raise BadRequest("status must be an HTTP error status (400-599)")
        count = _int(data, "count", 1) or 1
        errors = data.get("errors") or []
        if not isinstance(errors, list) or not all(isinstance(e, str) for e in errors):
            raise BadRequest("errors must be a list of strings")
        state.faults.append(ApiFault(status, max(1, count), _int(data, "retry_after", 10) or 10, errors))
        return jsonify({"ok": True}), 201

    @bp.post("/sandbox/settings")
    def settings() -> Any:
        data = _body()
        if "min_post_length" in data:
            state.min_post_length = max(1, _int(data, "min_post_length") or 1)
        return jsonify({"min_post_length": state.min_post_length})

    @bp.get("/sandbox/topics")
    def topics() -> Any:
        return jsonify(state.topics_list())

    @bp.get("/sandbox/deliveries")
    def deliveries() -> Any:
        return jsonify(state.deliveries)

    @bp.get("/sandbox/stats")
    def stats() -> Any:
        return jsonify({"topics": len(state.topics), "posts": len(state.posts), "deliveries": len(state.deliveries),
                        "api_calls": state.api_calls})

    @bp.post("/sandbox/reset")
    def reset() -> Any:
        state.reset()
        return jsonify({"reset": True})

    @bp.get("/")
    def page() -> Any:
        return render_page(state)

    return bp
