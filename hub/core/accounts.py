"""Channel accounts: the row as a channel sees it, lookup by webhook key (cached briefly per process), and
creation from the CLI."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlmodel import Session, select

from channels.base import AccountConfig
from hub.core.models import Account
from hub.core.state import HubState

_TTL_SECONDS = 10.0


@dataclass(frozen=True)
class KnownAccount:
    id: int
    config: AccountConfig


def account_config(account: Account, default_api_base: str = "") -> AccountConfig:
    return AccountConfig(
        key=account.key,
        channel=account.channel,
        token=account.token,
        app_id=account.app_id,
        app_secret=account.app_secret,
        aes_key=account.aes_key or None,
        api_base=account.api_base or default_api_base or None,
        settings=dict(account.settings or {}),
    )


def find_account(state: HubState, key: str) -> KnownAccount | None:
    """The account behind a webhook key; unknown keys are cached too so probing them stays cheap."""
    cache: dict[str, tuple[float, KnownAccount | None]] = state.caches.setdefault("accounts", {})
    now = time.monotonic()
    hit = cache.get(key)
    if hit and now - hit[0] < _TTL_SECONDS:
        return hit[1]
    if len(key) > 64:
        return None
    with Session(state.engine) as session:
        row = session.exec(select(Account).where(Account.key == key)).first()
    known = KnownAccount(row.id, account_config(row, state.config.wechat_api_base)) if row else None
    if len(cache) > 10_000:
        cache.clear()
    cache[key] = (now, known)
    return known


class AccountError(ValueError):
    pass


def add_account(session: Session, **fields: str | None) -> Account:
    key = fields.get("key") or ""
    if not key or len(key) > 64 or not all(c.isalnum() or c in "-_" for c in key):
        raise AccountError("the key must be 1–64 letters, digits, '-' or '_' (it becomes part of the webhook URL)")
    aes_key = fields.get("aes_key")
    if aes_key and len(aes_key) != 43:
        raise AccountError("the EncodingAESKey must be exactly 43 characters, as WeChat's console shows it")
    if session.exec(select(Account).where(Account.key == key)).first():
        raise AccountError(f"an account with key {key!r} exists already")
    account = Account(**{k: v for k, v in fields.items() if v is not None})
    session.add(account)
    session.flush()
    return account
