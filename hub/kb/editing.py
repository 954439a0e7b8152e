"""Editing one knowledge-base entry from the console: the same checks an imported row gets (hub.kb.files.to_row),
then the entry created or changed in the caller's transaction. The caller asks for an index rebuild."""

from __future__ import annotations

import secrets
from typing import Any

from sqlmodel import Session

from hub.core.models import utcnow
from hub.kb.files import KbFileError, to_row
from hub.kb.models import KbEntry


class EntryError(ValueError):
    """An entry that cannot be saved; the message says what to change."""


def split_similar(text: str | None) -> list[str]:
    """Paraphrases one per line (or separated by '|', as in CSV files)."""
    return [s.strip() for line in (text or "").splitlines() for s in line.split("|") if s.strip()]


def save_entry(session: Session, fields: dict[str, Any], entry_id: int | None = None) -> KbEntry:
    """Create an entry (entry_id None) or change one from question, answer, similar, category, link_url, enabled."""
    try:
        row = to_row(dict(fields), 1)
    except KbFileError as exc:
        raise EntryError(str(exc).removeprefix("line 1: ")) from None
    if entry_id is None:
        entry = KbEntry(external_id=f"op-{secrets.token_hex(6)}", question=row.question, answer=row.answer)
    else:
        found = session.get(KbEntry, entry_id)
        if found is None:
            raise EntryError(f"no entry {entry_id}")
        entry = found
    entry.question, entry.answer, entry.similar = row.question, row.answer, row.similar
    entry.category, entry.link_url, entry.enabled, entry.updated_at = row.category, row.link_url, row.enabled, utcnow()
    session.add(entry)
    session.flush()
    return entry


def set_enabled(session: Session, entry_id: int, enabled: bool) -> KbEntry:
    entry = session.get(KbEntry, entry_id)
    if entry is None:
        raise EntryError(f"no entry {entry_id}")
    entry.enabled, entry.updated_at = enabled, utcnow()
    session.add(entry)
    return entry
