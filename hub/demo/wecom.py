"""The demo's WeCom app: an account on the local WeCom emulation with the demo's rules, so that members can
write to the hub the way they would in WeCom (`POST /sandbox/members/<userid>/say` on the emulation)."""

from __future__ import annotations

import base64
import secrets
import threading
from typing import Any

from sqlmodel import select

from hub.conversation import Rule
from hub.core.db import session_scope
from hub.core.models import Account
from hub.core.state import HubState

WECOM_KEY = "demo-wecom"
WECOM_CORP_ID = "wwd000000000demo"
WECOM_AGENT_ID = 1000002
WECOM_RULES = (
    # kind, match, pattern, reply, priority
    ("keyword", "exact", "价格", "旗舰款 2999 元，标准款 1999 元，员工内购 8 折。", 10),
    ("menu", "contains", "MENU_HOTLINE", "内部服务热线 8000（9:00–18:00），也可以直接在这里留言。", 0),
)


def seed_wecom(state: HubState, api_base: str) -> Account:
    """Create the demo's WeCom app and its rules once; later runs only point it at `api_base`."""
    with session_scope(state.engine) as session:
        account = session.exec(select(Account).where(Account.key == WECOM_KEY)).first()
        if account is None:
            account = Account(
                key=WECOM_KEY, channel="wecom", name="Demo WeCom app", token=secrets.token_hex(8),
                app_id=WECOM_CORP_ID, app_secret=secrets.token_hex(16),
                aes_key=base64.b64encode(secrets.token_bytes(32)).decode()[:43],
                settings={"agent_id": str(WECOM_AGENT_ID)},
            )
            session.add(account)
            session.flush()
            for kind, match, pattern, reply, priority in WECOM_RULES:
                session.add(Rule(account_id=account.id, kind=kind, match=match, pattern=pattern, reply=reply,
                                 priority=priority))
        account.api_base = api_base
        session.add(account)
        session.flush()
        session.expunge(account)
    return account


def start_wecom_demo(state: HubState, hub_port: int, port: int) -> tuple[Any, str]:
    """Start the WeCom emulation (on `port`, or a free one if it is taken), point the demo app at it and
    register the app there with the hub's callback URL. Returns the server and its URL."""
    from hub.sandbox.wecom import SandboxState, make_sandbox_server
    from hub.sandbox.wecom.state import App

    sandbox_state = SandboxState()
    try:
        server = make_sandbox_server("127.0.0.1", port, sandbox_state)
    except OSError:
        server = make_sandbox_server("127.0.0.1", 0, sandbox_state)
    threading.Thread(target=server.serve_forever, name="wecom-sandbox", daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    account = seed_wecom(state, url)
    sandbox_state.add_app(App(
        account.app_id, account.app_secret, WECOM_AGENT_ID, account.token, account.aes_key or "",
        f"http://127.0.0.1:{hub_port}/webhooks/wecom/{account.key}",
    ))
    return server, url
