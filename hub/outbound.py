"""Channels as the hub uses them: an account row becomes a channel instance that can send."""

from __future__ import annotations

from typing import Any

from channels.base import AccountConfig
from channels.wechat import WeChatChannel
from hub.models import Account
from hub.state import HubState
from hub.token_cache import RedisTokenCache

CHANNEL_CLASSES: dict[str, Any] = {WeChatChannel.name: WeChatChannel}


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


def channel_for(state: HubState, account: Account) -> Any:
    """A channel instance for `account`, cached per process; its token lives in Redis for all processes."""
    cache: dict[tuple, Any] = state.extras.setdefault("channels", {})
    config = account_config(account, state.config.wechat_api_base)
    key = (account.id, config.token, config.app_id, config.app_secret, config.aes_key, config.api_base)
    channel = cache.get(key)
    if channel is None:
        cls = CHANNEL_CLASSES.get(account.channel)
        if cls is None:
            raise LookupError(f"no channel {account.channel!r} for account {account.key!r}")
        channel = cls.from_account(config, RedisTokenCache(state.redis))
        cache[key] = channel
    return channel
