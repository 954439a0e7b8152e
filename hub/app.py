"""The app factory: the only place where state is created (engine, Redis, queue, channels, bots)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, jsonify, redirect, request, url_for
from rq import Queue
from sqlalchemy.exc import OperationalError

from channels.wechat import WeChatChannel
from hub import metrics
from hub.api import bp as api_bp
from hub.auth import init_auth, login_manager
from hub.config import ensure_secret_key, load_config
from hub.console import bp as console_bp
from hub.db import make_engine
from hub.health import bp as health_bp
from hub.kb_index import kb_service
from hub.logs import setup_logging
from hub.redis_conn import make_redis
from hub.replay_memory import RedisReplayMemory
from hub.state import HubState, set_current
from hub.webhook_mount import mount_webhooks
from hub.webhooks import WebhookHandler
from knowledge.tokenizer import preload as tokenizer_preload

log = logging.getLogger("hub.app")


def create_state(config_overrides: Mapping[str, Any] | None = None) -> HubState:
    config = ensure_secret_key(load_config(config_overrides))
    setup_logging(config.log_format, config.log_level)
    engine = make_engine(config)
    client = make_redis(config)
    state = HubState(config=config, engine=engine, redis=client, queue=Queue(config.queue_name, connection=client))
    state.extras["service_providers"] = {"kb": kb_service}
    state.extras["preloaders"] = [tokenizer_preload, lambda: kb_service(state, wait=True)]
    # Interest tagging and intent (issue 4): the per-message processor, "intent_of" for the bots, and the
    # worker's preloading of the classifiers (training the intent model on first start).
    from hub.tag_models import preloaders as tag_preloaders
    from hub.tagging import intent_service, tag_message

    state.extras.setdefault("processors", []).append(tag_message)
    state.extras["service_providers"]["intent_of"] = intent_service
    state.extras["preloaders"].extend(tag_preloaders(state))
    set_current(state)
    return state


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    state = create_state(config)
    app = Flask("hub", instance_path=str(state.config.instance_path.resolve()))
    app.config.update(
        SECRET_KEY=state.config.secret_key,
        TESTING=state.config.testing,
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,  # uploads (KB imports); webhooks enforce their own, smaller limit
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.extensions["hub"] = state
    init_auth(app)
    import hub.api_kb  # noqa: F401  (registers its routes on the API blueprint)
    import hub.api_tags  # noqa: F401  (tags, fans' interests, examples, training)

    for blueprint in (health_bp, console_bp, api_bp):
        app.register_blueprint(blueprint)
    _instrument(app)

    @login_manager.unauthorized_handler
    def _unauthorized() -> Any:
        if request.path.startswith("/api/"):
            return jsonify(error="log in first (POST /login)"), 401
        return redirect(url_for("auth.login", next=request.path))

    _mount_webhooks(app, state)
    if not state.config.testing:
        _warm_up(state)
    return app


def _mount_webhooks(app: Flask, state: HubState) -> None:
    """The channels' webhooks go in front of Flask (see hub.webhook_mount); the console stays behind it."""
    handler = WebhookHandler(state)
    wechat = WeChatChannel.webhook(
        handler,
        handler.lookup,
        max_body_bytes=state.config.max_body_bytes,
        replay_window_seconds=state.config.replay_window_seconds,
        replay_memory=RedisReplayMemory(state.redis),
    )
    app.wsgi_app = mount_webhooks(app.wsgi_app, {WeChatChannel.name: wechat})  # type: ignore[method-assign]


def _warm_up(state: HubState) -> None:
    """Load the knowledge-base index, the classifiers and (if any exist) jieba in the background, so the
    first fan of a new web process does not wait for them (requests meanwhile are answered without them)."""
    from hub.tag_models import model_for
    from knowledge.classifier import preload as classifier_preload

    def run() -> None:
        try:
            loaded = [kb_service(state, wait=True), model_for(state, "intent", wait=True),
                      model_for(state, "interest", wait=True)]
            if any(item is not None for item in loaded):  # jieba only matters if something will tokenize
                tokenizer_preload()
                classifier_preload()
        except Exception:
            log.exception("warm-up failed; everything loads on first use instead")

    threading.Thread(target=run, name="warm-up", daemon=True).start()


def _instrument(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _record(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
        metrics.LATENCY.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    @app.errorhandler(OperationalError)
    def _database_down(exc: OperationalError) -> tuple[Response, int]:
        # Not stored means not accepted: WeChat retries, so the message is not lost.
        log.error("database unavailable", extra={"path": request.path, "error": type(exc.orig).__name__})
        return jsonify(error="database unavailable, retry later"), 503
