"""The web's own table: per-user API tokens (`Authorization: Bearer TOKEN` on /api/v1).

Only a token's SHA-256 digest is stored; the token itself is shown once, when it is created (hub.web.tokens).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from hub.core.models import utcnow


class ApiToken(SQLModel, table=True):
    """A user's API token: it acts with that user's role until it is revoked or the user is deactivated."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    name: str = Field(default="", max_length=100)
    token_hash: str = Field(unique=True, max_length=64)  # sha256 hex of the token
    prefix: str = Field(max_length=8)  # the token's first characters, to tell tokens apart in a list
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None  # written at most once a minute
    revoked_at: datetime | None = None
