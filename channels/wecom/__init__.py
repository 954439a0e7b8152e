"""The WeCom (企业微信) self-built app channel: the encrypted callback (webhook) and the message API."""

from channels.wecom.channel import WeComChannel

__all__ = ["WeComChannel"]
