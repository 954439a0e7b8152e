"""The labelling queue: recent fans' text messages nobody has labelled yet, least certain first.

Certainty is the active interest model's margin between its two best classes, where the classes are the interest
tags and "none" (a text about no tag, scored 1 − the best tag's probability). A small margin means the model
hesitates between two answers: labelling such texts teaches it most. Scores are cached per model version and
message id, so paging through the queue does not re-classify the same window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from hub.core.blob_holder import active_blob
from hub.core.models import IN, Message
from hub.core.state import HubState
from hub.tags.classifiers import model_for
from hub.tags.models import Example
from hub.tags.taxonomy import NO_INTEREST, interest_labels
from knowledge.classify_text import is_empty

WINDOW = 500  # the most recent inbound text messages considered
_CACHE_LIMIT = 20_000


@dataclass(frozen=True)
class QueueItem:
    message_id: int
    fan_id: int
    text: str
    sent_at: Any
    prediction: str | None  # a tag's name, "none", or None without a model
    margin: float | None
    probs: dict[str, float]


def score(probs: dict[str, float]) -> tuple[str, float, dict[str, float]]:
    """(best class, margin between the best two, every class's score) for one text's tag probabilities."""
    classes = dict(probs)
    classes[NO_INTEREST] = 1.0 - max(probs.values(), default=0.0)
    ranked = sorted(classes.items(), key=lambda kv: (-kv[1], kv[0]))
    second = ranked[1][1] if len(ranked) > 1 else 0.0
    return ranked[0][0], round(ranked[0][1] - second, 4), {k: round(v, 4) for k, v in ranked}


def _unlabelled(session: Session, window: int) -> list[Message]:
    rows = session.exec(select(Message).where(Message.direction == IN, col(Message.event).is_(None),
                                              Message.text != "")
                        .order_by(col(Message.id).desc()).limit(window)).all()
    rows = [m for m in rows if not is_empty(m.text)]
    if not rows:
        return []
    ids = [m.id for m in rows]
    texts = list({m.text.strip() for m in rows})
    done_ids = set(session.exec(select(Example.message_id).where(Example.kind == "interest",
                                                                 col(Example.message_id).in_(ids))).all())
    done_texts = set(session.exec(select(Example.text).where(Example.kind == "interest",
                                                             col(Example.text).in_(texts))).all())
    return [m for m in rows if m.id not in done_ids and m.text.strip() not in done_texts]


def label_queue(state: HubState, session: Session, limit: int = 20, window: int = WINDOW) -> list[QueueItem]:
    """Up to `limit` unlabelled messages of the last `window`, least certain first (newest first without a model)."""
    messages = _unlabelled(session, window)
    model = model_for(state, "interest")
    if model is None:
        return [QueueItem(m.id, m.fan_id, m.text, m.sent_at, None, None, {}) for m in messages[:limit]]  # type: ignore[arg-type]
    labels = interest_labels(session)
    cache: dict[tuple[str, int], tuple[str, float, dict[str, float]]] = state.caches.setdefault("label_queue", {})
    todo = [m for m in messages if (model.version, m.id) not in cache]
    if todo:
        if len(cache) + len(todo) > _CACHE_LIMIT:
            cache.clear()
        for message, probs in zip(todo, model.predict_proba([m.text for m in todo], allowed=labels), strict=True):
            cache[(model.version, message.id)] = score(probs)  # type: ignore[index]
    items = []
    for m in messages:
        prediction, margin, probs = cache[(model.version, m.id)]  # type: ignore[index]
        if prediction != NO_INTEREST and prediction not in labels:  # a tag deleted since the scores were cached
            prediction, margin, probs = score({k: v for k, v in probs.items() if k in labels})
        items.append(QueueItem(m.id, m.fan_id, m.text, m.sent_at, prediction, margin, probs))  # type: ignore[arg-type]
    items.sort(key=lambda item: (item.margin, -item.message_id))
    return items[:limit]


def active_model_figures(state: HubState, kind: str = "interest") -> dict[str, Any] | None:
    """The active model's version and the figures it was published with (held-out accuracy and macro-F1)."""
    blob = active_blob(state, kind)
    if blob is None:
        return None
    metrics = dict(blob.metrics or {})
    return {"version": blob.version, "created_at": blob.created_at, "accuracy": metrics.get("accuracy"),
            "macro_f1": metrics.get("macro_f1"), "held_back": metrics.get("held_back"),
            "train_examples": metrics.get("train_examples")}
