"""A Discourse post delivery (`post_created`, `post_edited`) turned into an InboundMessage.

- The fan is the forum user: `sender` is the user id (stable when the user is renamed); the username and the
  name shown go in `extra`.
- The text is the post's `raw` (its markdown; the `cooked` HTML stripped of tags when raw is absent) with quoted
  blocks (`[quote]...[/quote]`) left out, so that a fan quoting the bot is not read as asking it again; the first
  post of a topic is prefixed with the topic's title (often the question itself).
- `external_id` is `post:<post id>:<digest of the raw text>`: every delivery of the same post with the same text
  (a retry carries a new event id, an edit that changes only the title or category a new version) is one
  message; an edit that changes the text is a new message. Discourse does not bump `version` for edits within
  its grace period, so the version alone would lose those; it is kept in `extra`.
- `extra` keeps what a reply and the console need: topic id and title, category id, post id, post number,
  version, the post it replies to, the event and the forum instance.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from channels.base import TEXT, InboundMessage, WebhookRejected

CHANNEL = "community"
POST_EVENTS = ("post_created", "post_edited")
REGULAR_POST = 1  # post_type: 2 moderator action, 3 small action ("closed the topic"), 4 whisper
MAX_TEXT = 32_000  # Discourse's own limit on a post's length
_QUOTE = re.compile(r"\[quote(?:=[^\]]*)?\].*?\[/quote\]", re.IGNORECASE | re.DOTALL)


class Ignored(Exception):
    """An authentic delivery the hub acknowledges (200) and does not store; `reason` goes to the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "p", "div", "li", "blockquote", "pre"):
            self.parts.append("\n")


def strip_html(cooked: str) -> str:
    parser = _TextOnly()
    parser.feed(cooked)
    parser.close()
    return "".join(parser.parts).strip()


def _int(post: dict[str, Any], name: str, *, required: bool = True) -> int | None:
    value = post.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**53) < value < 2**53:
        raise WebhookRejected(400, f"post.{name} must be an integer")
    return value


def clean(text: str) -> str:
    """Text a database takes: JSON may carry NUL characters and lone surrogates ("\\u0000", "\\ud800"), which
    PostgreSQL refuses and UTF-8 cannot encode."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _str(post: dict[str, Any], name: str, limit: int, *, required: bool = True) -> str:
    value = post.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        raise WebhookRejected(400, f"post.{name} must be a string of at most {limit} characters")
    return clean(value)


def _time(post: dict[str, Any], name: str) -> datetime:
    value = _str(post, name, 64)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise WebhookRejected(400, f"post.{name} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def post_text(post: dict[str, Any]) -> str:
    """The post's text as written (raw), or its HTML stripped of tags."""
    raw = _str(post, "raw", 4 * MAX_TEXT, required=False)
    if raw.strip():
        return raw.strip()
    return strip_html(_str(post, "cooked", 8 * MAX_TEXT, required=False))


def _readable(text: str, post_number: int, title: str) -> str:
    """What the bots read: the text without quoted blocks, after the title on a topic's first post."""
    text = _QUOTE.sub("", text).strip()[:MAX_TEXT]
    if post_number == 1 and title.strip() and not text.startswith(title.strip()):
        return f"{title.strip()}\n{text}".strip()
    return text


def parse_post(event: str, payload: dict[str, Any], account_key: str, raw_body: str,
               now: datetime, max_age_seconds: float) -> tuple[InboundMessage, dict[str, Any]]:
    """The message for a post delivery and the post object; Ignored for posts that are no fan's message.

    Discourse sends no timestamp header, so staleness is judged by the post itself: a delivery whose post was
    created (post_created) or last changed (post_edited) more than `max_age_seconds` ago is refused as a replay;
    within that window the unique external id makes a replayed delivery a duplicate."""
    post = payload.get("post")
    if not isinstance(post, dict):
        raise WebhookRejected(400, f"a {event} delivery needs a 'post' object")
    post_id = _int(post, "id")
    user_id = _int(post, "user_id")
    username = _str(post, "username", 100)
    topic_id = _int(post, "topic_id")
    post_number = _int(post, "post_number")
    version = _int(post, "version", required=False) or 1
    post_type = _int(post, "post_type", required=False) or REGULAR_POST
    category_id = _int(post, "category_id", required=False)
    created_at = _time(post, "created_at")
    changed_at = _time(post, "updated_at") if event == "post_edited" and post.get("updated_at") else created_at
    age = (now - changed_at).total_seconds()
    if age > max_age_seconds:
        raise WebhookRejected(403, f"stale delivery: the post changed {int(age)} s ago (a replay?)")
    if age < -max_age_seconds:
        raise WebhookRejected(403, "the post's time lies far in the future")
    if user_id is not None and user_id < 0:  # Discourse's own users: system (-1), discobot (-2)
        raise Ignored(f"posted by the forum's system user {username!r}")
    if post_type != REGULAR_POST:
        raise Ignored(f"post_type {post_type} is not a regular post")
    if post.get("deleted_at"):
        raise Ignored("the post is deleted")
    text = post_text(post)
    if not text:
        raise Ignored("the post has no text")
    title = _str(post, "topic_title", 1000, required=False)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]
    extra: dict[str, Any] = {
        "username": username,
        "name": _str(post, "name", 200, required=False) or _str(post, "display_username", 200, required=False),
        "post_id": post_id,
        "post_number": post_number,
        "version": version,
        "topic_id": topic_id,
        "topic_title": title[:200],
        "category_id": category_id,
        "reply_to_post_number": _int(post, "reply_to_post_number", required=False),
        "event": event,
    }
    message = InboundMessage(
        channel=CHANNEL,
        account=account_key,
        sender=str(user_id),
        kind=TEXT,
        text=_readable(text, post_number or 0, title),
        external_id=f"post:{post_id}:{digest}",
        sent_at=changed_at.astimezone(UTC),
        extra=extra,
        raw=raw_body,
    )
    return message, post
