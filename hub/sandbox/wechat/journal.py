"""What happened, for inspection: delivered customer-service messages and the conversation log.

Bounded (oldest entries dropped). Not thread-safe: used under SandboxState's lock."""

from __future__ import annotations

from collections import deque
from typing import Any

from .models import ConversationEntry, OutboxMessage

LOG_LIMIT = 10_000


class Journal:
    def __init__(self, limit: int = LOG_LIMIT) -> None:
        self.outbox: deque[OutboxMessage] = deque(maxlen=limit)
        self.entries: deque[ConversationEntry] = deque(maxlen=limit)

    def delivered(self, appid: str | None, openid: str | None) -> list[dict[str, Any]]:
        return [m.as_dict() for m in self.outbox if _match(m, appid, openid)]

    def conversation(self, appid: str | None, openid: str | None) -> list[dict[str, Any]]:
        return [e.as_dict() for e in self.entries if _match(e, appid, openid)]


def _match(item: OutboxMessage | ConversationEntry, appid: str | None, openid: str | None) -> bool:
    return (not appid or item.appid == appid) and (not openid or item.openid == openid)
