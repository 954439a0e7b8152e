"""wechatpy's WeChatClient with the access token kept in the hub's shared TokenCache.

wechatpy 1.8 keeps the token's expiry in process memory (`expires_at`), fetches from a hard-coded
https://api.weixin.qq.com URL and never locks, so N processes would each fetch a token and invalidate each
other's (WeChat keeps only the newest valid). Here the token lives only in the TokenCache, with its TTL as
the expiry, and is fetched under `token_cache.lock()` with a double-checked get. A token WeChat rejects is
replaced compare-and-swap style: only if the cache still holds the rejected one.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

import requests
from wechatpy import WeChatClient

from channels.base import AccountConfig, PermanentSendError, TokenCache, TransientSendError

log = logging.getLogger("channels.wechat")

DEFAULT_API_BASE = "https://api.weixin.qq.com/cgi-bin/"
TOKEN_MARGIN_SECONDS = 300  # refresh a little before WeChat expires the token
LOCK_TIMEOUT_SECONDS = 30.0


def api_base_url(api_base: str | None) -> str:
    """The base URL for API endpoints; "http://host:port" and "http://host:port/cgi-bin/" both work."""
    if not api_base:
        return DEFAULT_API_BASE
    base = api_base.rstrip("/")
    if not base.endswith("/cgi-bin"):
        base += "/cgi-bin"
    return base + "/"


class RedactCredentials(logging.Filter):
    """Masks `secret=` and `access_token=` in log records: urllib3 logs every request URL at DEBUG, and
    WeChat's API takes both in the query string."""

    pattern = re.compile(r"((?:access_token|secret)=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "access_token=" in message or "secret=" in message:
            record.msg, record.args = self.pattern.sub(r"\1***", message), ()
        return True


def install_redaction() -> None:
    """Attach the filter to urllib3's request logger (once)."""
    target = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, RedactCredentials) for f in target.filters):
        target.addFilter(RedactCredentials())


def _describe(exc: BaseException) -> str:
    # Only the type: requests' messages embed the URL, which carries the secret or the token.
    return type(exc).__name__


class SharedTokenClient(WeChatClient):
    """A WeChatClient whose access token comes from a TokenCache shared by every process."""

    def __init__(
        self,
        config: AccountConfig,
        token_cache: TokenCache,
        *,
        session: requests.Session | None = None,
        timeout: float = 10.0,
    ) -> None:
        # auto_retry=False: token errors are handled by the channel, with a compare-and-swap refresh.
        super().__init__(config.app_id, config.app_secret, timeout=timeout, auto_retry=False)
        install_redaction()
        self.API_BASE_URL = api_base_url(config.api_base)
        if session is not None:
            self._http = session
        self._cache = token_cache
        self._cache_key = f"wechat:access_token:{config.app_id}"
        self._lock_key = f"wechat:access_token_lock:{config.app_id}"
        self._pinned = threading.local()

    @property
    def access_token_key(self) -> str:
        return self._cache_key

    # -- the token ---------------------------------------------------------------------------------------

    def current_token(self) -> str:
        """The shared token, fetching one (once across all processes) when there is none."""
        token = self._cache.get(self._cache_key)
        if token:
            return token
        with self._cache.lock(self._lock_key, LOCK_TIMEOUT_SECONDS):
            token = self._cache.get(self._cache_key)  # another process may have fetched it meanwhile
            if token:
                return token
            return self._fetch_and_store()

    def replace_rejected(self, rejected: str) -> str:
        """A fresh token after WeChat rejected `rejected`; reuses one another process already fetched."""
        with self._cache.lock(self._lock_key, LOCK_TIMEOUT_SECONDS):
            token = self._cache.get(self._cache_key)
            if token and token != rejected:
                return token
            self._cache.delete(self._cache_key)
            return self._fetch_and_store()

    def _fetch_and_store(self) -> str:
        log.info("fetching a WeChat access token for app %s", self.appid)
        try:
            res = self._http.get(
                self.API_BASE_URL + "token",
                params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise TransientSendError("token", f"token request failed: {_describe(exc)}") from None
        if res.status_code >= 500 or res.status_code == 429:
            raise TransientSendError(res.status_code, f"token endpoint answered HTTP {res.status_code}")
        try:
            result = res.json()
        except ValueError:
            raise TransientSendError("token", "token endpoint answered with non-JSON") from None
        if not isinstance(result, dict) or not result.get("access_token"):
            errcode = result.get("errcode", "token") if isinstance(result, dict) else "token"
            errmsg = str(result.get("errmsg", "")) if isinstance(result, dict) else ""
            if errcode == -1:
                raise TransientSendError(errcode, "WeChat is busy, could not fetch an access token")
            raise PermanentSendError(
                errcode, f"could not fetch an access token (check AppID/AppSecret and IP whitelist): {errmsg}"
            )
        try:
            expires_in = int(result.get("expires_in", 7200))
        except (TypeError, ValueError):
            expires_in = 7200
        token = str(result["access_token"])
        self._cache.set(self._cache_key, token, max(60, expires_in - TOKEN_MARGIN_SECONDS))
        return token

    # -- wechatpy hooks ----------------------------------------------------------------------------------

    @property
    def access_token(self) -> str:  # type: ignore[override]
        # wechatpy's API methods read this; the channel pins the token it chose so that it knows which
        # token WeChat rejected.
        pinned = getattr(self._pinned, "token", None)
        return pinned if pinned else self.current_token()

    def fetch_access_token(self) -> dict[str, Any]:
        token = self.replace_rejected(self._cache.get(self._cache_key) or "")
        return {"access_token": token}

    def pin(self, token: str | None) -> None:
        self._pinned.token = token
