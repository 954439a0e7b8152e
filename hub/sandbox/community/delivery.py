"""The emulated forum as a webhook sender: Discourse's signed deliveries (headers and exact body bytes), POSTed
to the hub. A retry (`redeliver`) sends the same body with a new event id, as Discourse does."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import requests

from .state import ForumState

EVENT_TYPES = {"ping": "ping", "post_created": "post", "post_edited": "post", "topic_created": "topic"}


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def build(state: ForumState, event: str, payload: dict[str, Any], secret: str,
          event_id: int | None = None) -> tuple[dict[str, str], bytes]:
    """The headers and body Discourse sends for `event` with `payload`."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "X-Discourse-Instance": state.instance,
        "X-Discourse-Event-Id": str(event_id if event_id is not None else state.next_event_id()),
        "X-Discourse-Event-Type": EVENT_TYPES.get(event, event.split("_")[0]),
        "X-Discourse-Event": event,
        "X-Discourse-Event-Signature": signature(secret, body),
    }
    return headers, body


def send(state: ForumState, event: str, headers: dict[str, str], body: bytes, url: str) -> dict[str, Any]:
    """POST one delivery and record it (what the forum's "webhook events" page lists)."""
    try:
        response = requests.post(url, data=body, headers=headers, timeout=30)
        status: int | None = response.status_code
        answer = response.text[:500]
    except requests.RequestException as exc:
        status, answer = None, f"could not reach the hub: {type(exc).__name__}"
    entry = {"event": event, "event_id": int(headers["X-Discourse-Event-Id"]), "url": url, "status": status,
             "response": answer, "headers": dict(headers), "body": body.decode("utf-8")}
    state.record_delivery(entry)
    return entry


def deliver(state: ForumState, event: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    """Deliver to the webhook set with /sandbox/webhook; None when there is none."""
    hook = state.hook
    if hook is None:
        return None
    headers, body = build(state, event, payload, hook.secret)
    return send(state, event, headers, body, hook.url)


def redeliver(state: ForumState, index: int = -1) -> dict[str, Any]:
    """Send a recorded delivery again, with a new event id and the same body (Discourse's retry)."""
    if not state.deliveries:
        raise KeyError("nothing was delivered yet")
    try:
        earlier = state.deliveries[index]
    except IndexError:
        raise KeyError(f"no delivery {index}") from None
    headers = {**earlier["headers"], "X-Discourse-Event-Id": str(state.next_event_id())}
    return send(state, earlier["event"], headers, earlier["body"].encode("utf-8"), earlier["url"])


def post_events(state: ForumState, post_id: int, *, created_topic: bool, edited: bool = False) -> list[dict[str, Any]]:
    """What the forum delivers for a new post (topic_created first for a new topic) or an edit."""
    post = state.posts[post_id]
    results = []
    if created_topic:
        results.append(deliver(state, "topic_created", {"topic": state.topic_created_json(post.topic_id)}))
    event = "post_edited" if edited else "post_created"
    results.append(deliver(state, event, {"post": state.post_json(post)}))
    return [r for r in results if r is not None]
