"""The tag taxonomy operators manage (interest, manual and system tags) and the labelled examples they give.

Tags are soft-deleted: the row stays (models trained before the deletion may still predict its name;
those predictions are dropped), and creating a deleted name again restores it. Tag names are the
classifier's labels, so a tag cannot be renamed; delete it and create another instead.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, select

from hub.core.models import Message, utcnow
from hub.tags.models import TAG_KINDS, Example, FanTag, Tag
from knowledge.intents import INTENTS

NAME_MAX = 30  # WeChat's limit for a user tag's name
MAX_KEYWORDS = 50
KEYWORD_MAX = 30
TEXT_MAX = 2000
NO_INTEREST = "none"  # the label of an interest example about none of the tags (chit-chat)
EXAMPLE_KINDS = ("interest", "intent")
EXAMPLE_SOURCES = ("operator", "correction", "seed")


class TagError(ValueError):
    """A tag or example operation that cannot be done; the message says why and what to do."""


class TagNotFound(TagError, LookupError):
    pass


def clean_name(name: Any, what: str = "a tag name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise TagError(f"{what} must not be empty")
    name = unicodedata.normalize("NFC", name.strip())
    if len(name) > NAME_MAX:
        raise TagError(f"{what} is at most {NAME_MAX} characters (WeChat's limit): {name[:40]!r}")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise TagError(f"{what} must not contain control characters")
    if name.lower() == NO_INTEREST:
        raise TagError(f"{NO_INTEREST!r} is reserved for examples about no tag")
    return name


def clean_keywords(keywords: Iterable[Any] | None) -> list[str]:
    out: list[str] = []
    for raw in keywords or ():
        if not isinstance(raw, str):
            raise TagError("seed keywords must be strings")
        word = raw.strip()
        if not word:
            continue
        if len(word) > KEYWORD_MAX:
            raise TagError(f"a seed keyword is at most {KEYWORD_MAX} characters: {word[:40]!r}")
        if word not in out:
            out.append(word)
    if len(out) > MAX_KEYWORDS:
        raise TagError(f"at most {MAX_KEYWORDS} seed keywords per tag")
    return out


def _find(session: Session, name: str) -> Tag | None:
    return session.exec(select(Tag).where(Tag.name == name)).first()


def get_tag(session: Session, name: str) -> Tag:
    tag = _find(session, name.strip() if isinstance(name, str) else name)
    if tag is None or tag.deleted_at is not None:
        raise TagNotFound(f"no tag {name!r} (hub tags list shows the tags)")
    return tag


def create_tag(session: Session, name: Any, kind: str = "interest", description: str = "",
               keywords: Iterable[Any] | None = None) -> Tag:
    """A new tag, or a deleted one restored with these settings."""
    name = clean_name(name)
    if kind not in TAG_KINDS:
        raise TagError(f"a tag's kind is one of {', '.join(TAG_KINDS)}, not {kind!r}")
    words = clean_keywords(keywords)
    if words and kind != "interest":
        raise TagError("seed keywords only apply to interest tags (the classifier never assigns other kinds)")
    if len(description or "") > 500:
        raise TagError("a description is at most 500 characters")
    tag = _find(session, name)
    if tag is not None and tag.deleted_at is None:
        raise TagError(f"a tag {name!r} exists already (hub tags list)")
    if tag is None:
        tag = Tag(name=name)
    tag.kind, tag.description, tag.seed_keywords, tag.deleted_at = kind, description or "", words, None
    session.add(tag)
    session.flush()
    return tag


def update_tag(session: Session, name: str, description: str | None = None,
               keywords: Iterable[Any] | None = None) -> Tag:
    tag = get_tag(session, name)
    if description is not None:
        if len(description) > 500:
            raise TagError("a description is at most 500 characters")
        tag.description = description
    if keywords is not None:
        words = clean_keywords(keywords)
        if words and tag.kind != "interest":
            raise TagError("seed keywords only apply to interest tags")
        tag.seed_keywords = words
    session.add(tag)
    return tag


def delete_tag(session: Session, name: str) -> Tag:
    """Soft-delete: the tag leaves every fan at once; models that still predict it are filtered."""
    tag = get_tag(session, name)
    tag.deleted_at = utcnow()
    session.add(tag)
    session.execute(update(FanTag).where(FanTag.tag_id == tag.id, FanTag.active == True)  # noqa: E712
                    .values(active=False, updated_at=utcnow()))
    return tag


def active_tags(session: Session, kinds: Iterable[str] = TAG_KINDS) -> list[Tag]:
    return list(session.exec(select(Tag).where(Tag.deleted_at == None, Tag.kind.in_(tuple(kinds)))  # type: ignore[attr-defined]  # noqa: E711
                             .order_by(Tag.id)).all())


def interest_labels(session: Session) -> set[str]:
    """The labels the interest classifier may assign now (deleted tags excluded)."""
    return set(session.exec(select(Tag.name).where(Tag.deleted_at == None, Tag.kind == "interest")).all())  # noqa: E711


def tag_dict(tag: Tag, fans: int | None = None) -> dict[str, Any]:
    out = {"id": tag.id, "name": tag.name, "kind": tag.kind, "description": tag.description,
           "keywords": list(tag.seed_keywords or []), "created_at": tag.created_at.isoformat()}
    if fans is not None:
        out["fans"] = fans
    return out


def _check_label(session: Session, kind: str, label: Any) -> str:
    if not isinstance(label, str) or not label.strip():
        raise TagError("an example needs a label")
    label = label.strip()
    if kind == "interest":
        if label.lower() == NO_INTEREST:
            return NO_INTEREST
        if label not in interest_labels(session):
            raise TagError(f"{label!r} is not an interest tag (use an interest tag's name, or {NO_INTEREST!r})")
        return label
    if label in INTENTS:
        return label
    if len(label) > 32 or not all(ch.isalnum() or ch == "_" for ch in label):
        raise TagError(f"an intent is one of {', '.join(INTENTS)} or a new name of letters, digits and _")
    return label


def add_example(session: Session, kind: str, text: Any, label: Any, *, source: str = "operator",
                message_id: int | None = None) -> Example:
    """An operator's labelled text (or a correction of a message's tags/intent); the same example twice is one."""
    if kind not in EXAMPLE_KINDS:
        raise TagError(f"an example's kind is interest or intent, not {kind!r}")
    if source not in EXAMPLE_SOURCES:
        raise TagError(f"an example's source is one of {', '.join(EXAMPLE_SOURCES)}")
    if message_id is not None:
        message = session.get(Message, message_id)
        if message is None:
            raise TagNotFound(f"no message {message_id}")
        text = message.text if text is None else text
    if not isinstance(text, str) or not text.strip():
        raise TagError("an example needs some text")
    text = text.strip()
    if len(text) > TEXT_MAX:
        raise TagError(f"an example's text is at most {TEXT_MAX} characters")
    label = _check_label(session, kind, label)
    for old in session.exec(select(Example).where(Example.kind == kind, Example.text == text)).all():
        # One intent per text; for interests, "none" and a tag contradict each other: the newer wins.
        if old.label != label and (kind == "intent" or NO_INTEREST in (old.label, label)):
            session.delete(old)
    existing = session.exec(select(Example).where(Example.kind == kind, Example.text == text,
                                                  Example.label == label)).first()
    if existing is not None:
        return existing
    example = Example(kind=kind, text=text, label=label, source=source, message_id=message_id)
    session.add(example)
    session.flush()
    return example
