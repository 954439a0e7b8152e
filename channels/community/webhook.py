"""The Discourse webhook: POST /<key> below where the hub mounts it (/webhooks/community).

Every delivery is authenticated by `X-Discourse-Event-Signature: sha256=<HMAC-SHA256 of the raw body>` with the
account's webhook secret (compared in constant time) before anything else is read. Then, by `X-Discourse-Event`:
- `ping` (the forum's "test" button): 200.
- `post_created`, `post_edited`: the post becomes a message for the hub (channels.community.inbound). The
  hub's own posts (by the account's API username) and the forum's system users are acknowledged and dropped;
  posts in categories the account does not serve are stored for the fan's profile but marked `observe_only`
  (no bot answers them, no ticket opens).
- `topic_created` and anything else the forum may be set to send: 200 and nothing stored (a topic's text
  arrives with its first post, as post_created).
The answer is always at once and never carries a reply (Discourse ignores the body): replies go back on the
topic through the forum's API. Rejected deliveries get a 4xx and one log line, with no secret in it; the hub
stores nothing of them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from channels.base import AccountConfig, AccountLookup, OnMessage, WebhookRejected
from channels.community.inbound import CHANNEL, POST_EVENTS, Ignored, clean, parse_post
from channels.community.settings import ForumSettings, forum_settings
from channels.community.signature import signature_matches
from channels.wechat.http import Request, read_body

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

log = logging.getLogger("channels.community")

DEFAULT_MAX_BODY = 512 * 1024  # a post may hold 32,000 characters, sent twice (raw and cooked)
EVENT_HEADER = "HTTP_X_DISCOURSE_EVENT"
SIGNATURE_HEADER = "HTTP_X_DISCOURSE_EVENT_SIGNATURE"


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    max_body_bytes: int = DEFAULT_MAX_BODY
    clock: Callable[[], float] = time.time


def _json(body: dict[str, Any], status: int = 200, **headers: str) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers)


def _header(environ: WSGIEnvironment, name: str, limit: int = 200) -> str:
    value = environ.get(name) or ""
    return clean(value.strip()[:limit]) if isinstance(value, str) else ""


def _forum(lookup: AccountLookup, key: str) -> tuple[AccountConfig, ForumSettings]:
    account = lookup(key) if 0 < len(key) <= 64 else None
    if account is None or account.channel != CHANNEL:
        raise WebhookRejected(404, "unknown account key")
    try:
        forum = forum_settings(account)
    except ValueError as exc:
        log.error("%s", exc)
        raise WebhookRejected(403, "account misconfigured: see the hub's log") from None
    if not forum.secret:
        log.error("community account %r has no webhook secret", account.key)
        raise WebhookRejected(403, "account misconfigured: it has no webhook secret")
    return account, forum


def _payload(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WebhookRejected(400, "the body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookRejected(400, "the body is not a JSON object")
    return payload


class CommunityWebhook:
    """The WSGI app: POST on "/<key>"; any other path is a 404 and any other method a 405. Exceptions other
    than WebhookRejected (the hub's database being down) propagate to whoever mounts it."""

    def __init__(self, on_message: OnMessage, lookup: AccountLookup, settings: WebhookSettings) -> None:
        self.on_message = on_message
        self.lookup = lookup
        self.settings = settings

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO") or ""
        key = path[1:]
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        try:
            if not path.startswith("/") or not key or "/" in key:
                raise WebhookRejected(404, "no such webhook")
            if method != "POST":
                response = _json({"error": "method not allowed"}, 405, Allow="POST")
            else:
                response = self.receive(environ, key)
        except WebhookRejected as exc:
            status = exc.status if 400 <= exc.status < 500 else 400
            log.warning(
                "community webhook rejected: status=%d key=%r event=%r remote=%s reason=%s",
                status, key[:64], _header(environ, EVENT_HEADER, 40), environ.get("REMOTE_ADDR"), exc.reason,
            )
            response = _json({"error": exc.reason}, status)
        return response(environ, start_response)

    def receive(self, environ: WSGIEnvironment, key: str) -> Response:
        account, forum = _forum(self.lookup, key)
        body = read_body(Request(environ), self.settings.max_body_bytes)
        signature = _header(environ, SIGNATURE_HEADER)
        if not signature:
            raise WebhookRejected(401, "missing X-Discourse-Event-Signature")
        if not signature_matches(forum.secret, body, signature):
            raise WebhookRejected(403, "X-Discourse-Event-Signature does not match the body")
        event = _header(environ, EVENT_HEADER, 64)
        if not event:
            raise WebhookRejected(400, "missing X-Discourse-Event")
        if event == "ping":
            return _json({"ok": True})
        payload = _payload(body)
        if event not in POST_EVENTS:
            log.info("community webhook: %r acknowledged, nothing stored", event, extra={"account": account.key})
            return _json({"ok": True, "ignored": f"{event} is not stored"})
        now = datetime.fromtimestamp(self.settings.clock(), UTC)
        try:
            inbound, _post = parse_post(event, payload, account.key, body.decode("utf-8"), now,
                                        forum.max_age_seconds)
            username = str(inbound.extra.get("username") or "")
            if forum.is_own(username):
                raise Ignored(f"a post by the hub's own API user {username!r}")
        except Ignored as exc:
            log.info("community webhook: post ignored: %s", exc.reason, extra={"account": account.key})
            return _json({"ok": True, "ignored": exc.reason})
        extra = {**inbound.extra, "instance": _header(environ, "HTTP_X_DISCOURSE_INSTANCE"),
                 "event_id": _header(environ, "HTTP_X_DISCOURSE_EVENT_ID", 40)}
        if not forum.serves(inbound.extra.get("category_id")):
            extra["observe_only"] = True  # stored for the fan's profile; the bot does not answer here
        self.on_message(replace(inbound, extra=extra))  # no passive reply: replies go through the API
        return _json({"ok": True})
