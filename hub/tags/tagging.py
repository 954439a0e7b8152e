"""Tagging each inbound message as `process_message` handles it: the fan's intent and interests on the
message, the fan's interest profile updated incrementally, and the profile's active tags in FanTag rows.

Idempotent: predictions are deterministic for a model version, and the profile counts a message only
if its id is above the profile's `last_message_id`. Messages with nothing to read (images, voice
without recognition, stickers) change nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from channels.base import InboundMessage
from hub.core.models import IN, Message
from hub.core.state import HubState, get_state
from hub.tags import profiles
from hub.tags.classifiers import model_for
from hub.tags.taxonomy import interest_labels
from knowledge import profile as prof
from knowledge.classifier import Model
from knowledge.classify_text import is_empty

TOP_INTERESTS = 3
MIN_SHOWN_P = 0.05  # interests below this are not worth listing on the message
_CACHE_SIZE = 2048


def top_interests(probs: dict[str, float], n: int = TOP_INTERESTS) -> list[dict[str, Any]]:
    ranked = sorted(((p, lab) for lab, p in probs.items() if p >= MIN_SHOWN_P), key=lambda x: (-x[0], x[1]))
    return [{"tag": lab, "p": round(p, 3)} for p, lab in ranked[:n]]


def intent_and_p(model: Model, text: str) -> tuple[str | None, float | None]:
    label, p = model.predict_top_p([text])[0]
    return (label, round(p, 3)) if label is not None else (None, None)


def tag_message(session: Session, message: Message, inbound: InboundMessage) -> None:
    """The processor `process_message` runs inside its transaction, before the bots decide."""
    if message.direction != IN or inbound.is_event or is_empty(message.text):
        return
    state = get_state()
    meta = dict(message.meta or {})
    intent_model = model_for(state, "intent")
    if intent_model is not None:
        meta["intent"], meta["intent_p"] = intent_and_p(intent_model, message.text)
    interest_model = model_for(state, "interest")
    if interest_model is not None:
        labels = interest_labels(session)
        probs = interest_model.predict_proba([message.text], allowed=labels)[0]
        meta["interests"] = top_interests(probs)
        meta["interest_model"] = interest_model.version
        _update_profile(session, message, probs, interest_model.version)
    if meta != (message.meta or {}):
        message.meta = meta
        session.add(message)


def _update_profile(session: Session, message: Message, probs: dict[str, float], version: str) -> None:
    assert message.id is not None
    row = profiles.load_row(session, message.fan_id, lock=True)
    if message.id <= row.last_message_id:
        return  # counted already (a redelivered or re-run job)
    profile = prof.update(profiles.profile_of(row), prof.Message(str(message.id), profiles.ts_of(message.sent_at),
                                                                 probs), profiles.PARAMS)
    profiles.save(session, row, profile, last_message_id=message.id, model_version=version)
    profiles.mirror(session, message.fan_id, profile, profiles.tags_by_name(session))


class IntentOf:
    """The "intent_of" service for bots: InboundMessage -> intent label (None for nothing to read)."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self._cache: dict[str, str | None] = {}

    def __call__(self, message: InboundMessage) -> str | None:
        text = message.text or ""
        if message.is_event or is_empty(text):
            return None
        if text not in self._cache:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[text] = self.model.predict_top([text])[0]
        return self._cache[text]


def intent_service(state: HubState) -> Callable[[InboundMessage], str | None] | None:
    """Service provider: None until this process has an intent model loaded."""
    model = model_for(state, "intent")
    if model is None:
        return None
    services: dict[str, IntentOf] = state.caches.setdefault("intent_services", {})
    if model.version not in services:
        services.clear()
        services[model.version] = IntentOf(model)
    return services[model.version]
