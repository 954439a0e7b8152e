"""Access tokens like the real API: 7200 s lifetime; a refresh supersedes the previous token, which
stays usable for a grace period (5 minutes on the real API).

Not thread-safe: used under SandboxState's lock."""

from __future__ import annotations

import dataclasses
import secrets

from .errors import ApiError
from .models import Token


class TokenBook:
    def __init__(self, ttl: int, grace: int) -> None:
        self.ttl = ttl
        self.grace = grace
        self._tokens: dict[str, Token] = {}

    def issue(self, appid: str, now: float) -> Token:
        for old in self._tokens.values():
            if old.appid == appid and old.superseded_at is None:
                old.superseded_at = now
        for value in [v for v, t in self._tokens.items() if t.expires_at < now - 86400]:
            del self._tokens[value]
        token = Token(secrets.token_urlsafe(102), appid, now, now + self.ttl)
        self._tokens[token.value] = token
        return dataclasses.replace(token)

    def appid_of(self, access_token: str | None) -> str | None:
        token = self._tokens.get(access_token or "")
        return token.appid if token else None

    def authenticate(self, access_token: str | None, now: float) -> str:
        """Return the appid of a valid token, or raise 41001 / 40001 / 42001 like the real API."""
        if not access_token:
            raise ApiError(41001)
        token = self._tokens.get(access_token)
        if token is None:
            raise ApiError(40001)
        if token.superseded_at is not None and now >= token.superseded_at + self.grace:
            raise ApiError(40001)
        if now >= token.expires_at:
            raise ApiError(42001)
        return token.appid
