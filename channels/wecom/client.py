"""The WeCom API as the channel calls it: the app's access token (gettoken) in the hub's shared TokenCache,
and JSON calls that carry it.

The token belongs to one app (CorpID + Secret) and is shared by every process as channels.shared_token
describes — the same scheme as the WeChat channel's. wechatpy's enterprise client keeps the expiry in process memory and
fetches from a hard-coded URL, so the two calls the channel needs are made here with requests.
"""

from __future__ import annotations

import logging
from typing import Any

import requests

from channels.base import AccountConfig, PermanentSendError, TokenCache, TransientSendError
from channels.shared_token import SharedToken, api_base_url, describe, expires_in
from channels.wechat.client import install_redaction
from channels.wecom.errors import from_errcode

log = logging.getLogger("channels.wecom")

DEFAULT_API_BASE = "https://qyapi.weixin.qq.com/cgi-bin/"


class ApiAnswer(Exception):
    """A non-zero errcode from the API, before it is classified (the channel retries token errors once)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class WeComClient(SharedToken):
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
        self.base = api_base_url(config.api_base, DEFAULT_API_BASE)
        self.timeout = timeout
        self.http = session or requests.Session()
        self._share_token(token_cache, f"wecom:access_token:{config.app_id}:{config.settings.get('agent_id', '')}")

    # -- the token (current_token, replace_rejected: SharedToken) ----------------------------------------

    def _fetch_token(self) -> tuple[str, int]:
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
        return token, expires_in(result)

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
    return TransientSendError("network", f"could not reach the WeCom API: {describe(exc)}")
