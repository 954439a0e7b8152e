"""Discourse's webhook signature: `X-Discourse-Event-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`."""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The header value Discourse sends for `body`."""
    return PREFIX + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    """Constant-time check of the header against the body; False for a missing or malformed header."""
    if not secret or not header or not header.startswith(PREFIX) or len(header) > 200:
        return False
    given = header[len(PREFIX):].strip().lower()
    return hmac.compare_digest(sign(secret, body)[len(PREFIX):].encode(), given.encode("ascii", "replace"))
