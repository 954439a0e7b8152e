"""Test helpers: a WeChat account on the hub wired to the local WeChat API emulation, and a fan."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from typing import Any

import requests
from sqlmodel import Session, select

from hub.conversation.models import Rule
from hub.conversation.rules import rules_changed
from hub.core.db import session_scope
from hub.core.models import Account, Message


@dataclass
class WiredAccount:
    key: str
    app_id: str
    token: str
    aes_key: str | None
    sandbox_url: str
    hub_url: str

    def say(self, openid: str, **body: Any) -> dict[str, Any]:
        """The fan writes through the emulated WeChat, which signs, encrypts and delivers to the hub."""
        response = requests.post(
            f"{self.sandbox_url}/sandbox/fans/{openid}/say", json={"appid": self.app_id, **body}, timeout=30
        )
        assert response.status_code == 200, response.text
        return response.json()

    def outbox(self, openid: str | None = None) -> list[dict[str, Any]]:
        params = {"appid": self.app_id, **({"openid": openid} if openid else {})}
        return requests.get(f"{self.sandbox_url}/sandbox/outbox", params=params, timeout=10).json()

    def fault(self, endpoint: str, count: int = 1, **kw: Any) -> None:
        body = {"endpoint": endpoint, "count": count, "appid": self.app_id, **kw}
        response = requests.post(f"{self.sandbox_url}/sandbox/faults", json=body, timeout=10)
        assert response.status_code == 201, response.text

    @property
    def webhook(self) -> str:
        return f"{self.hub_url}/webhooks/wechat/{self.key}"


def wire_account(
    state: Any, hub_url: str, sandbox_url: str, *, safe_mode: bool = True, key: str = "brand"
) -> WiredAccount:
    aes_key = base64.b64encode(secrets.token_bytes(32)).decode()[:43] if safe_mode else None
    app_id, secret, token = f"wx{secrets.token_hex(8)}", secrets.token_hex(16), secrets.token_hex(8)
    with session_scope(state.engine) as session:
        session.add(Account(key=key, channel="wechat", token=token, app_id=app_id, app_secret=secret,
                            aes_key=aes_key, api_base=sandbox_url))
    response = requests.post(
        f"{sandbox_url}/sandbox/apps",
        json={"appid": app_id, "secret": secret, "webhook_url": f"{hub_url}/webhooks/wechat/{key}",
              "token": token, "aes_key": aes_key},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return WiredAccount(key, app_id, token, aes_key, sandbox_url, hub_url)


def add_rule(state: Any, account_key: str, kind: str, reply: str, pattern: str = "", match: str = "contains",
             priority: int = 0) -> None:
    with session_scope(state.engine) as session:
        account = session.exec(select(Account).where(Account.key == account_key)).one()
        session.add(Rule(account_id=account.id, kind=kind, match=match, pattern=pattern, reply=reply,
                         priority=priority))
    rules_changed(state)


def messages(state: Any, direction: str | None = None) -> list[Message]:
    with Session(state.engine) as session:
        query = select(Message).order_by(Message.id)
        if direction:
            query = query.where(Message.direction == direction)
        return list(session.exec(query).all())
