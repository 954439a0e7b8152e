"""An API access token shared by every process through the hub's TokenCache — WeChat's and WeCom's alike.

Both platforms keep only the newest token valid, so N processes that each fetched their own would invalidate
each other's. The token lives only in the TokenCache, with its TTL as the expiry (a little before the
platform's), and is fetched under `token_cache.lock()` with a double-checked get; a token the platform rejects
is replaced compare-and-swap style: only if the cache still holds the rejected one.
"""

from __future__ import annotations

from typing import Any

from channels.base import TokenCache

TOKEN_MARGIN_SECONDS = 300  # refresh a little before the platform expires the token (7200 s)
LOCK_TIMEOUT_SECONDS = 30.0


def api_base_url(api_base: str | None, default: str) -> str:
    """The base URL for API endpoints; "http://host:port" and "http://host:port/cgi-bin/" both work."""
    if not api_base:
        return default
    base = api_base.rstrip("/")
    if not base.endswith("/cgi-bin"):
        base += "/cgi-bin"
    return base + "/"


def describe(exc: BaseException) -> str:
    """Only the type: requests' messages embed the URL, which carries the secret or the token."""
    return type(exc).__name__


def expires_in(result: dict[str, Any]) -> int:
    """The token's lifetime in a token answer (7200 s when missing or malformed)."""
    try:
        return int(result.get("expires_in", 7200))
    except (TypeError, ValueError):
        return 7200


class SharedToken:
    """The token half of a client: `_fetch_token()` asks the platform for a token and its lifetime."""

    cache_key: str
    _lock_key: str
    _cache: TokenCache

    def _share_token(self, token_cache: TokenCache, key: str) -> None:
        """`key` names the token in the cache, e.g. "wechat:access_token:<appid>"."""
        self._cache = token_cache
        self.cache_key = key
        self._lock_key = key.replace(":access_token", ":access_token_lock", 1)

    def _fetch_token(self) -> tuple[str, int]:
        raise NotImplementedError

    def current_token(self) -> str:
        """The shared token, fetching one (once across all processes) when there is none."""
        token = self._cache.get(self.cache_key)
        if token:
            return token
        with self._cache.lock(self._lock_key, LOCK_TIMEOUT_SECONDS):
            token = self._cache.get(self.cache_key)  # another process may have fetched it meanwhile
            return token or self._fetch_and_store()

    def replace_rejected(self, rejected: str) -> str:
        """A fresh token after the platform rejected `rejected`; reuses one another process already fetched."""
        with self._cache.lock(self._lock_key, LOCK_TIMEOUT_SECONDS):
            token = self._cache.get(self.cache_key)
            if token and token != rejected:
                return token
            self._cache.delete(self.cache_key)
            return self._fetch_and_store()

    def _fetch_and_store(self) -> str:
        token, lifetime = self._fetch_token()
        self._cache.set(self.cache_key, token, max(60, lifetime - TOKEN_MARGIN_SECONDS))
        return token
