"""The community forum channel (Discourse): signed webhooks in, replies on the topic through the forum's API."""

from channels.community.channel import CommunityChannel

__all__ = ["CommunityChannel"]
