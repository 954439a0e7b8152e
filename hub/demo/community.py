"""The demo's community forum: an account on the local Discourse emulation, so that forum users can post
(`POST /sandbox/say` on the emulation) and read the hub's answers on their topic (the emulation's page at /)."""

from __future__ import annotations

import json
import secrets
import threading
from typing import Any

from sqlmodel import select

from hub.core.db import session_scope
from hub.core.models import Account
from hub.core.state import HubState

FORUM_KEY = "demo-forum"
FORUM_API_USERNAME = "hub_bot"
FORUM_CATEGORY = 5  # the forum's 售后 (support) category: the bot answers there, and only observes elsewhere


def seed_forum(state: HubState, api_base: str) -> Account:
    """Create the demo's forum account once; later runs only point it at `api_base`."""
    with session_scope(state.engine) as session:
        account = session.exec(select(Account).where(Account.key == FORUM_KEY)).first()
        if account is None:
            account = Account(key=FORUM_KEY, channel="community", name="Demo community forum",
                              token=secrets.token_hex(16), app_secret=secrets.token_hex(16),
                              settings={"api_username": FORUM_API_USERNAME, "categories": [FORUM_CATEGORY]})
        account.api_base = api_base
        session.add(account)
        session.flush()
        session.expunge(account)
    return account


def start_community_demo(state: HubState, hub_port: int, port: int) -> tuple[Any, str]:
    """Start the forum emulation (on `port`, or a free one if it is taken), point the demo forum account at it,
    give the emulation its API key and the hub's webhook. Returns the server and its URL."""
    from hub.sandbox.community import ForumState, make_sandbox_server

    forum = ForumState()
    try:
        server = make_sandbox_server("127.0.0.1", port, forum)
    except OSError:
        server = make_sandbox_server("127.0.0.1", 0, forum)
    threading.Thread(target=server.serve_forever, name="forum-sandbox", daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    account = seed_forum(state, url)
    forum.add_api_key(account.app_secret, FORUM_API_USERNAME)
    forum.set_hook(f"http://127.0.0.1:{hub_port}/webhooks/community/{account.key}", account.token)
    return server, url


def say_command(url: str) -> str:
    """The shell command with which a forum user of the demo asks something in the served category."""
    body = {"username": "fan_li", "title": "怎么退货", "raw": "买的东西想退，怎么弄？", "category_id": FORUM_CATEGORY}
    return (f"curl -s {url}/sandbox/say -H 'Content-Type: application/json' "
            f"-d '{json.dumps(body, ensure_ascii=False)}'")
