"""Replies on the forum through Discourse's API: `POST /posts.json` with `Api-Key` and `Api-Username`, and its
failures sorted into transient (retry with back-off) and permanent (recorded on the message for an agent)."""

from __future__ import annotations

from typing import Any

import requests

from channels.base import PermanentSendError, SendError, TransientSendError
from channels.community.settings import ForumSettings

PERMANENT_REASONS = {
    400: "the forum refused the request as malformed",
    401: "the forum did not accept the API credentials",
    403: "the forum refused the API key or username (check --api-key and --api-username, and the key's scopes)",
    404: "the topic is gone (deleted, or not visible to the API user)",
    413: "the reply is too long for the forum",
    422: "the forum refused the post",
}


def _errors(response: requests.Response) -> str:
    """Discourse's own explanation (`{"errors": [...]}`), short; never the request (it has no secret anyway)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list):
        return "; ".join(str(e) for e in errors)[:300]
    return ""


def from_response(response: requests.Response) -> SendError:
    status = response.status_code
    detail = _errors(response)
    if status == 429:
        wait = response.headers.get("Retry-After", "")
        after = f", retry after {wait[:12]} s" if wait else ""
        return TransientSendError(429, f"the forum's rate limit was hit{after} ({detail})")
    if status >= 500:
        return TransientSendError(status, f"the forum answered HTTP {status}")
    reason = PERMANENT_REASONS.get(status, f"the forum answered HTTP {status}")
    return PermanentSendError(status, f"{reason} ({detail})" if detail else reason)


def create_post(session: requests.Session, forum: ForumSettings, topic_id: int, raw: str,
                reply_to_post_number: int | None, timeout: float) -> dict[str, Any]:
    """Post `raw` in the topic (as a reply to that post when given); the created post as the forum returns it."""
    if not forum.api_base or not forum.api_key:
        raise PermanentSendError("config", "the account has no API base URL or API key: the hub cannot post on "
                                           "the forum (hub account add community ... --api-base URL --api-key KEY)")
    body: dict[str, Any] = {"topic_id": topic_id, "raw": raw}
    if reply_to_post_number:
        body["reply_to_post_number"] = reply_to_post_number
    headers = {"Api-Key": forum.api_key, "Api-Username": forum.api_username, "Accept": "application/json"}
    try:
        response = session.post(f"{forum.api_base}/posts.json", json=body, headers=headers, timeout=timeout)
    except requests.Timeout:
        raise TransientSendError("timeout", "the forum's API timed out") from None
    except requests.RequestException as exc:
        raise TransientSendError("network", f"could not reach the forum's API: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise from_response(response)
    try:
        post = response.json()
    except ValueError:  # 200 means posted: never post twice for a body the hub cannot read
        return {}
    return post if isinstance(post, dict) else {}
