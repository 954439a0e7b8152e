"""wechatpy's WeChatClient with the access token kept in the hub's shared TokenCache.

wechatpy 1.8 keeps the token's expiry in process memory (`expires_at`), fetches from a hard-coded
https://api.weixin.qq.com URL and never locks, so N processes would each fetch a token and invalidate each
other's (WeChat keeps only the newest valid). Here the token is shared as channels.shared_token describes.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

import requests
from wechatpy import WeChatClient

from channels.base import AccountConfig, PermanentSendError, TokenCache, TransientSendError
from channels.shared_token import SharedToken, api_base_url, describe, expires_in

log = logging.getLogger("channels.wechat")

DEFAULT_API_BASE = "https://api.weixin.qq.com/cgi-bin/"


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


class SharedTokenClient(SharedToken, WeChatClient):
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
        self.API_BASE_URL = api_base_url(config.api_base, DEFAULT_API_BASE)
        if session is not None:
            self._http = session
        self._share_token(token_cache, f"wechat:access_token:{config.app_id}")
        self._pinned = threading.local()

    @property
    def access_token_key(self) -> str:
        return self.cache_key

    # -- the token (current_token, replace_rejected: SharedToken) ----------------------------------------

    def _fetch_token(self) -> tuple[str, int]:
        log.info("fetching a WeChat access token for app %s", self.appid)
        try:
            res = self._http.get(
                self.API_BASE_URL + "token",
                params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise TransientSendError("token", f"token request failed: {describe(exc)}") from None
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
        return str(result["access_token"]), expires_in(result)

    # -- wechatpy hooks ----------------------------------------------------------------------------------

    @property
    def access_token(self) -> str:  # type: ignore[override]
        # wechatpy's API methods read this; the channel pins the token it chose so that it knows which
        # token WeChat rejected.
        pinned = getattr(self._pinned, "token", None)
        return pinned if pinned else self.current_token()

    def fetch_access_token(self) -> dict[str, Any]:
        token = self.replace_rejected(self._cache.get(self.cache_key) or "")
        return {"access_token": token}

    def pin(self, token: str | None) -> None:
        self._pinned.token = token
