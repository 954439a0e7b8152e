"""The emulated forum's in-memory state: users, API keys, categories, topics and posts, the webhook it delivers
to, the deliveries it made and the faults to inject. Thread-safe (the server is threaded)."""

from __future__ import annotations

import html
import itertools
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ALL_USERS = ""  # an "All users" API key: any Api-Username may be given with it


def iso(moment: float) -> str:
    """Discourse's time format: 2023-02-09T10:19:46.324Z."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(moment * 1000) % 1000:03d}Z"


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "topic"


@dataclass
class Post:
    id: int
    topic_id: int
    post_number: int
    user_id: int
    username: str
    raw: str
    created_at: float
    updated_at: float
    reply_to_post_number: int | None = None
    version: int = 1


@dataclass
class Topic:
    id: int
    title: str
    category_id: int | None
    user_id: int
    created_at: float
    posts: list[Post] = field(default_factory=list)


@dataclass
class Hook:
    url: str
    secret: str


@dataclass
class ApiFault:
    """The next `remaining` calls of POST /posts.json answer `status` (429 with Retry-After)."""

    status: int
    remaining: int = 1
    retry_after: int = 10
    errors: list[str] = field(default_factory=list)


class ForumState:
    def __init__(self, instance: str = "http://forum.sandbox.local", min_post_length: int = 1) -> None:
        self.instance = instance
        self.min_post_length = min_post_length
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.users: dict[str, int] = {"system": -1}
            self.api_keys: dict[str, str] = {}  # key -> username (ALL_USERS: any)
            self.topics: dict[int, Topic] = {}
            self.posts: dict[int, Post] = {}
            self.hook: Hook | None = None
            self.deliveries: list[dict[str, Any]] = []
            self.faults: list[ApiFault] = []
            self.api_calls = 0
            self._user_ids = itertools.count(100)
            self._topic_ids = itertools.count(1000)
            self._post_ids = itertools.count(5000)
            self._event_ids = itertools.count(1)

    # -- set-up ----------------------------------------------------------------------------------------------

    def user_id(self, username: str) -> int:
        with self._lock:
            if username not in self.users:
                self.users[username] = next(self._user_ids)
            return self.users[username]

    def add_api_key(self, key: str, username: str = ALL_USERS) -> None:
        with self._lock:
            if username:
                self.user_id(username)
            self.api_keys[key] = username

    def set_hook(self, url: str, secret: str) -> None:
        with self._lock:
            self.hook = Hook(url, secret)

    def next_event_id(self) -> int:
        with self._lock:
            return next(self._event_ids)

    # -- writing ---------------------------------------------------------------------------------------------

    def create_topic(self, username: str, title: str, raw: str, category_id: int | None) -> Post:
        with self._lock:
            now = time.time()
            topic = Topic(next(self._topic_ids), title, category_id, self.user_id(username), now)
            self.topics[topic.id] = topic
            return self._append(topic, username, raw, None, now)

    def reply(self, username: str, topic_id: int, raw: str, reply_to_post_number: int | None) -> Post:
        with self._lock:
            topic = self.topics.get(topic_id)
            if topic is None:
                raise KeyError(f"no topic {topic_id}")
            return self._append(topic, username, raw, reply_to_post_number, time.time())

    def _append(self, topic: Topic, username: str, raw: str, reply_to: int | None, now: float) -> Post:
        post = Post(next(self._post_ids), topic.id, len(topic.posts) + 1, self.user_id(username), username, raw,
                    now, now, reply_to)
        topic.posts.append(post)
        self.posts[post.id] = post
        return post

    def edit(self, post_id: int, raw: str, *, bump_version: bool = True) -> Post:
        with self._lock:
            post = self.posts.get(post_id)
            if post is None:
                raise KeyError(f"no post {post_id}")
            post.raw, post.updated_at = raw, time.time()
            if bump_version:  # Discourse does not within its grace period ("ninja edits")
                post.version += 1
            return post

    def take_fault(self) -> ApiFault | None:
        with self._lock:
            self.api_calls += 1
            if not self.faults:
                return None
            fault = self.faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                self.faults.pop(0)
            return fault

    # -- reading ---------------------------------------------------------------------------------------------

    def post_json(self, post: Post) -> dict[str, Any]:
        """A post as Discourse's WebHookPostSerializer (and POST /posts.json) shows it."""
        with self._lock:
            topic = self.topics[post.topic_id]
            return {
                "id": post.id, "name": post.username, "username": post.username,
                "avatar_template": f"/user_avatar/sandbox/{post.username}/{{size}}/1_2.png",
                "created_at": iso(post.created_at), "cooked": f"<p>{html.escape(post.raw)}</p>", "raw": post.raw,
                "post_number": post.post_number, "post_type": 1, "updated_at": iso(post.updated_at),
                "reply_count": 0, "reply_to_post_number": post.reply_to_post_number, "quote_count": 0,
                "incoming_link_count": 0, "reads": 0, "score": 0, "topic_id": topic.id, "topic_slug": slug(topic.title),
                "topic_title": topic.title, "category_id": topic.category_id, "display_username": post.username,
                "primary_group_name": None, "version": post.version, "user_title": None, "moderator": False,
                "admin": False, "staff": False, "user_id": post.user_id, "hidden": False, "trust_level": 1,
                "deleted_at": None, "user_deleted": False, "edit_reason": None, "wiki": False,
                "topic_posts_count": len(topic.posts), "topic_archetype": "regular",
            }

    def topic_json(self, topic_id: int) -> dict[str, Any]:
        with self._lock:
            topic = self.topics.get(topic_id)
            if topic is None:
                raise KeyError(f"no topic {topic_id}")
            return {"id": topic.id, "title": topic.title, "slug": slug(topic.title), "category_id": topic.category_id,
                    "posts_count": len(topic.posts), "created_at": iso(topic.created_at),
                    "post_stream": {"posts": [self.post_json(p) for p in topic.posts]}}

    def topic_created_json(self, topic_id: int) -> dict[str, Any]:
        """A topic as the topic_created webhook shows it."""
        with self._lock:
            topic = self.topics[topic_id]
            username = topic.posts[0].username if topic.posts else "system"
            user = {"id": topic.user_id, "username": username, "name": username,
                    "avatar_template": f"/user_avatar/sandbox/{username}/{{size}}/1_2.png"}
            return {"id": topic.id, "title": topic.title, "fancy_title": topic.title, "slug": slug(topic.title),
                    "posts_count": len(topic.posts), "reply_count": 0, "highest_post_number": len(topic.posts),
                    "created_at": iso(topic.created_at), "archetype": "regular", "visible": True, "closed": False,
                    "archived": False, "category_id": topic.category_id, "tags": [], "user_id": topic.user_id,
                    "created_by": user, "last_poster": user}

    def topics_list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self.topic_json(topic_id) for topic_id in sorted(self.topics)]

    def record_delivery(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.deliveries.append(entry)
