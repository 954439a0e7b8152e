"""Channels as the hub uses them: an account row becomes a channel instance that can send."""

from __future__ import annotations

from typing import Any

from channels.community import CommunityChannel
from channels.wechat import WeChatChannel
from channels.wecom import WeComChannel
from hub.core.accounts import account_config
from hub.core.models import Account
from hub.core.state import HubState
from hub.outbound.token_cache import RedisTokenCache

CHANNEL_CLASSES: dict[str, Any] = {WeChatChannel.name: WeChatChannel, WeComChannel.name: WeComChannel,
                                   CommunityChannel.name: CommunityChannel}


def channel_for(state: HubState, account: Account) -> Any:
    """A channel instance for `account`, cached per process; its token lives in Redis for all processes."""
    cache: dict[tuple, Any] = state.caches.setdefault("channels", {})
    # HUB_WECHAT_API_BASE is the WeChat API's; other channels use their account's api_base or their real API.
    default_base = state.config.wechat_api_base if account.channel == WeChatChannel.name else ""
    config = account_config(account, default_base)
    key = (account.id, config.token, config.app_id, config.app_secret, config.aes_key, config.api_base,
           repr(sorted(config.settings.items())))
    channel = cache.get(key)
    if channel is None:
        cls = CHANNEL_CLASSES.get(account.channel)
        if cls is None:
            raise LookupError(f"no channel {account.channel!r} for account {account.key!r}")
        channel = cls.from_account(config, RedisTokenCache(state.redis))
        cache[key] = channel
    return channel
