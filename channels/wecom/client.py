"""The WeCom API as the channel calls it: the app's access token (gettoken) in the hub's shared TokenCache,
and JSON calls that carry it.

The token belongs to one app (CorpID + Secret) and is shared by every process: it lives only in the
TokenCache, with its TTL as the expiry, fetched under `token_cache.lock()` with a double-checked get, and a
token WeCom rejects is replaced compare-and-swap style (only if the cache still holds the rejected one) —
the same scheme as the WeChat channel's. wechatpy's enterprise client keeps the expiry in process memory and
fetches from a hard-coded URL, so the two calls the channel needs are made here with requests.
"""

from __future__ import annotations

import logging
from typing import Any

import requests

from channels.base import AccountConfig, PermanentSendError, TokenCache, TransientSendError
from channels.wechat.client import install_redaction
from channels.wecom.errors import from_errcode

log = logging.getLogger("channels.wecom")

DEFAULT_API_BASE = "https://qyapi.weixin.qq.com/cgi-bin/"
TOKEN_MARGIN_SECONDS = 300  # refresh a little before WeCom expires the token (7200 s)
LOCK_TIMEOUT_SECONDS = 30.0


def api_base_url(api_base: str | None) -> str:
    """The base URL for API endpoints; "http://host:port" and "http://host:port/cgi-bin/" both work."""
    if not api_base:
        return DEFAULT_API_BASE
    base = api_base.rstrip("/")
    if not base.endswith("/cgi-bin"):
        base += "/cgi-bin"
    return base + "/"


class ApiAnswer(Exception):
    """A non-zero errcode from the API, before it is classified (the channel retries token errors once)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


def _describe(exc: BaseException) -> str:
    # Only the type: requests' messages embed the URL, which carries the secret or the token.
    return type(exc).__name__


class WeComClient:
    """One app's calls to the WeCom API with a token shared through a TokenCache."""

    def __init__(
        self,
        config: AccountConfig,
        token_cache: TokenCache,
        *,
        session: requests.Session | None = None,
        timeout: float = 10.0,
    ) -> None:
        install_redaction()  # urllib3 logs request URLs at DEBUG: corpsecret= and access_token= are masked
        self.corp_id = config.app_id
        self.secret = config.app_secret
        self.base = api_base_url(config.api_base)
        self.timeout = timeout
        self.http = session or requests.Session()
        self._cache = token_cache
        app = f"{config.app_id}:{config.settings.get('agent_id', '')}"
        self.cache_key = f"wecom:access_token:{app}"
        self._lock_key = f"wecom:access_token_lock:{app}"

    # -- the token ---------------------------------------------------------------------------------------

    def current_token(self) -> str:
        """The shared token, fetching one (once across all processes) when there is none."""
        token = self._cache.get(self.cache_key)
        if token:
            return token
        with self._cache.lock(self._lock_key, LOCK_TIMEOUT_SECONDS):
            token = self._cache.get(self.cache_key)  # another process may have fetched it meanwhile
            return token or self._fetch_and_store()

    def replace_rejected(self, rejected: str) -> str:
        """A fresh token after WeCom rejected `rejected`; reuses one another process already fetched."""
        with self._cache.lock(self._lock_key, LOCK_TIMEOUT_SECONDS):
            token = self._cache.get(self.cache_key)
            if token and token != rejected:
                return token
            self._cache.delete(self.cache_key)
            return self._fetch_and_store()

    def _fetch_and_store(self) -> str:
        log.info("fetching a WeCom access token for corp %s", self.corp_id)
        try:
            result = self._json(self.http.get(
                self.base + "gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret},
                timeout=self.timeout,
            ))
        except ApiAnswer as exc:
            if exc.errcode in (-1, 45009, 45033):
                raise from_errcode(exc.errcode, exc.errmsg) from None
            raise PermanentSendError(
                exc.errcode, f"could not fetch a WeCom access token (check CorpID, Secret and trusted IPs): "
                f"{exc.errmsg[:200]}",
            ) from None
        token = result.get("access_token")
        if not isinstance(token, str) or not token:
            raise PermanentSendError("token", "WeCom's gettoken answered without an access_token")
        try:
            expires_in = int(result.get("expires_in", 7200))
        except (TypeError, ValueError):
            expires_in = 7200
        self._cache.set(self.cache_key, token, max(60, expires_in - TOKEN_MARGIN_SECONDS))
        return token

    # -- calls -------------------------------------------------------------------------------------------

    def post(self, endpoint: str, token: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST JSON to an endpoint with `token`; ApiAnswer for a non-zero errcode."""
        return self._json(self.http.post(
            self.base + endpoint, params={"access_token": token}, json=payload, timeout=self.timeout,
        ))

    @staticmethod
    def _json(response: requests.Response | Any) -> dict[str, Any]:
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientSendError(response.status_code, f"WeCom API answered HTTP {response.status_code}")
        if response.status_code != 200:
            raise PermanentSendError(response.status_code, f"WeCom API answered HTTP {response.status_code}")
        try:
            result = response.json()
        except ValueError:
            raise TransientSendError("response", "WeCom API answered with something other than JSON") from None
        if not isinstance(result, dict):
            raise TransientSendError("response", "WeCom API answered with something other than a JSON object")
        try:
            errcode = int(result.get("errcode", 0))
        except (TypeError, ValueError):
            raise TransientSendError("response", "WeCom API answered with a malformed errcode") from None
        if errcode != 0:
            raise ApiAnswer(errcode, str(result.get("errmsg", "")))
        return result


def network_error(exc: requests.RequestException) -> TransientSendError:
    if isinstance(exc, requests.Timeout):
        return TransientSendError("timeout", "WeCom API timed out")
    return TransientSendError("network", f"could not reach the WeCom API: {_describe(exc)}")
