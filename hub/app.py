"""The app factory: the only place where state is created (engine, Redis, queue) and the features are
wired together, by name: the web parts, the channels' webhooks in front of them, and the warm-up."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from rq import Queue

from channels.community import CommunityChannel
from channels.wechat import WeChatChannel
from channels.wecom import WeComChannel
from hub.conversation import warm_up
from hub.core.config import ensure_secret_key, load_config
from hub.core.db import make_engine
from hub.core.logs import setup_logging
from hub.core.redis_conn import make_redis
from hub.core.state import HubState, set_current
from hub.intake import RedisReplayMemory, WebhookHandler, mount_webhooks
from hub.web import STATIC, TEMPLATES, init_web


def create_state(config_overrides: Mapping[str, Any] | None = None) -> HubState:
    config = ensure_secret_key(load_config(config_overrides))
    setup_logging(config.log_format, config.log_level)
    engine = make_engine(config)
    client = make_redis(config)
    state = HubState(config=config, engine=engine, redis=client, queue=Queue(config.queue_name, connection=client))
    set_current(state)
    return state


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    state = create_state(config)
    app = Flask("hub", instance_path=str(state.config.instance_path.resolve()), template_folder=str(TEMPLATES),
                static_folder=str(STATIC))
    app.config.update(
        SECRET_KEY=state.config.secret_key,
        TESTING=state.config.testing,
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,  # uploads (KB imports); webhooks enforce their own, smaller limit
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.extensions["hub"] = state
    init_web(app)
    _mount_webhooks(app, state)
    if not state.config.testing:
        warm_up(state)
    return app


def _mount_webhooks(app: Flask, state: HubState) -> None:
    """The channels' webhooks go in front of Flask (see hub.intake.mount); the console stays behind it."""
    handler = WebhookHandler(state)
    wechat = WeChatChannel.webhook(
        handler,
        handler.lookup,
        max_body_bytes=state.config.max_body_bytes,
        replay_window_seconds=state.config.replay_window_seconds,
        replay_memory=RedisReplayMemory(state.redis),
    )
    webhooks: dict[str, Any] = {WeChatChannel.name: wechat}
    webhooks[WeComChannel.name] = WeComChannel.webhook(
        handler,
        handler.lookup,
        max_body_bytes=state.config.max_body_bytes,
        replay_window_seconds=state.config.replay_window_seconds,
    )
    forum = WebhookHandler(state, passive=False)  # a forum takes replies only through its API
    webhooks[CommunityChannel.name] = CommunityChannel.webhook(forum, forum.lookup)
    app.wsgi_app = mount_webhooks(app.wsgi_app, webhooks)  # type: ignore[method-assign]
