"""The WeChat Official Account channel: webhook (plaintext, compatible and safe mode) and API client."""

from channels.wechat.channel import WeChatChannel

__all__ = ["WeChatChannel"]
