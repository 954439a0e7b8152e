"""Per-user API tokens: create, list, revoke, and find the user a presented token belongs to.

A token is `hub_` followed by 43 random URL-safe characters (`secrets.token_urlsafe(32)`); only its SHA-256 digest
is stored, so a leaked database does not leak working tokens. A token acts with its user's current role, and stops
working when it is revoked or the user is deactivated.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from hub.core.db import session_scope
from hub.core.models import User, as_utc, utcnow
from hub.web.models import ApiToken

log = logging.getLogger("hub.web.tokens")

TOKEN_PREFIX = "hub_"  # noqa: S105  (a marker that makes a leaked token recognisable, not a secret)
MAX_TOKEN_LENGTH = 200  # longer is never one of ours: refused before hashing
LAST_USED_RESOLUTION = timedelta(minutes=1)  # how often a token's last use is written back


class TokenError(ValueError):
    """A token cannot be created or revoked; the message says why and what to do."""


@dataclass(frozen=True)
class TokenUser:
    """The user a valid token belongs to, as the request sees it."""

    id: int
    email: str
    role: str
    display_name: str
    token_id: int
    locale: str | None = None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(engine: Engine, email: str, name: str = "") -> str:
    """A new token for the active user `email`; the only time the token itself is seen."""
    email = email.strip().lower()
    if len(name) > 100:
        raise TokenError("a token's name is at most 100 characters")
    with session_scope(engine) as session:
        user = session.exec(select(User).where(User.email == email)).first()
        if user is None:
            raise TokenError(f"no user {email!r}: add one first (hub user add EMAIL --role ROLE --password PW)")
        if not user.active:
            raise TokenError(f"user {email!r} is deactivated: a token would not work")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = ApiToken(user_id=user.id, name=name, token_hash=digest(token), prefix=token[:8])
        session.add(row)
        session.flush()
        log.info("API token created", extra={"token_id": row.id, "user_id": user.id})
    return token


def list_tokens(engine: Engine, email: str | None = None) -> list[dict[str, Any]]:
    """Every token (or one user's), oldest first, without anything that would let one be used."""
    with Session(engine) as session:
        query = select(ApiToken, User.email).join(User, ApiToken.user_id == User.id)  # type: ignore[arg-type]
        if email is not None:
            query = query.where(User.email == email.strip().lower())
        rows = session.exec(query.order_by(ApiToken.id)).all()  # type: ignore[arg-type]
    return [
        {"id": t.id, "email": user_email, "name": t.name, "prefix": t.prefix,
         "created_at": _iso(t.created_at), "last_used_at": _iso(t.last_used_at), "revoked_at": _iso(t.revoked_at)}
        for t, user_email in rows
    ]


def revoke_token(engine: Engine, token_id: int) -> bool:
    """Revoke a token: True, or False when it already was. An unknown id is a TokenError."""
    with session_scope(engine) as session:
        row = session.get(ApiToken, token_id)
        if row is None:
            raise TokenError(f"no API token {token_id} (hub tokens list shows them)")
        if row.revoked_at is not None:
            return False
        row.revoked_at = utcnow()
        session.add(row)
    log.info("API token revoked", extra={"token_id": token_id})
    return True


def user_for_token(engine: Engine, token: str) -> TokenUser | None:
    """The active user a token belongs to, or None (unknown, revoked, or the user is deactivated).

    The lookup is by digest (an index lookup reveals nothing about the token); the stored digest is then compared
    in constant time. The token's last use is written at most once a minute."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        log.info("API token refused", extra={"reason": "malformed"})
        return None
    wanted = digest(token)
    with Session(engine) as session:
        found = session.exec(select(ApiToken, User).join(User, ApiToken.user_id == User.id)  # type: ignore[arg-type]
                             .where(ApiToken.token_hash == wanted)).first()
        if found is None or not hmac.compare_digest(found[0].token_hash, wanted):
            log.info("API token refused", extra={"reason": "unknown"})
            return None
        row, user = found
        if row.revoked_at is not None or not user.active:
            reason = "revoked" if row.revoked_at is not None else "user deactivated"
            log.info("API token refused", extra={"reason": reason, "token_id": row.id, "user_id": user.id})
            return None
        found_user = TokenUser(id=int(user.id or 0), email=user.email, role=user.role,
                               display_name=user.display_name or user.email, token_id=int(row.id or 0),
                               locale=user.locale)
        now = utcnow()
        if row.last_used_at is None or now - as_utc(row.last_used_at) >= LAST_USED_RESOLUTION:
            session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))  # type: ignore[arg-type]
            session.commit()
    return found_user


def _iso(moment: datetime | None) -> str | None:
    return as_utc(moment).isoformat() if moment is not None else None
