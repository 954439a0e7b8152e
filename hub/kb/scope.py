"""One account's knowledge scope: a brand with several accounts may let each answer from some categories of the
knowledge base only (`hub account kb KEY --categories 售后,物流`; the account's `settings["kb_categories"]`).
Without categories an account answers from every entry."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from sqlmodel import Session

from hub.core.models import Account
from hub.core.state import HubState
from knowledge.decision import MAX_SUGGESTIONS, decide_hits

SCOPE_CANDIDATES = 30  # ranked before the account's categories filter them
_TTL_SECONDS = 10.0  # a changed scope reaches every process within this


class ScopedKnowledgeBase:
    """The knowledge base as one account's FAQ bot sees it: the entries of its categories, nothing else."""

    def __init__(self, service: Any, categories: frozenset[str]) -> None:
        self.service = service
        self.categories = categories

    def _allowed(self, entry_id: str) -> bool:
        entry = self.service.entry(entry_id)
        return entry is not None and entry.get("category", "") in self.categories

    def search(self, text: str, k: int = 5) -> list[Any]:
        return [hit for hit in self.service.search(text, k=SCOPE_CANDIDATES) if self._allowed(hit.entry_id)][:k]

    def decide(self, text: str) -> Any:
        return decide_hits(self.search(text, k=MAX_SUGGESTIONS), self.service.thresholds)

    def entry(self, entry_id: str) -> Mapping[str, Any] | None:
        return self.service.entry(entry_id) if self._allowed(entry_id) else None


def kb_categories(state: HubState, account_id: int) -> frozenset[str]:
    """The categories this account answers from (empty: all), read at most every few seconds per process."""
    cache: dict[int, tuple[float, frozenset[str]]] = state.caches.setdefault("kb_scopes", {})
    held = cache.get(account_id)
    now = time.monotonic()
    if held is not None and now - held[0] < _TTL_SECONDS:
        return held[1]
    with Session(state.engine) as session:
        account = session.get(Account, account_id)
        categories = frozenset((account.settings or {}).get("kb_categories") or []) if account else frozenset()
    cache[account_id] = (now, categories)
    return categories


def scoped(state: HubState, service: Any, account_id: int) -> Any:
    """The knowledge base for this account's bot: the whole one, or its categories only."""
    categories = kb_categories(state, account_id)
    return ScopedKnowledgeBase(service, categories) if categories and service is not None else service
