"""Classify WeChat API failures into permanent (do not retry) and transient (retry with back-off)."""

from __future__ import annotations

import requests
from wechatpy.exceptions import WeChatClientException

from channels.base import PermanentSendError, SendError, TransientSendError

# Errors that say the token is invalid or expired: refetch once and retry once.
TOKEN_ERRORS = frozenset({40001, 40014, 42001})

PERMANENT_REASONS = {
    45015: "the fan has not written in the last 48 hours, customer-service messages are closed",
    45047: "over the quota of 5 customer-service messages since the fan last wrote",
    40003: "invalid openid (not a fan of this account)",
    40001: "access token rejected even after a refresh (check AppSecret)",
    40014: "access token rejected even after a refresh",
    42001: "access token expired even after a refresh",
    48001: "the account is not authorised for this API",
    45009: "the account's daily API quota is used up",
}
# Worth retrying later.
TRANSIENT_REASONS = {
    -1: "WeChat is busy",
    45011: "API called too often, slow down",
}


def from_errcode(errcode: int, errmsg: str) -> SendError:
    errmsg = (errmsg or "")[:200]
    if errcode in TRANSIENT_REASONS:
        return TransientSendError(errcode, f"{TRANSIENT_REASONS[errcode]} ({errmsg})")
    reason = PERMANENT_REASONS.get(errcode, "WeChat refused the request")
    return PermanentSendError(errcode, f"{reason} ({errmsg})")


def from_exception(exc: Exception) -> SendError:
    """A SendError for what a wechatpy call raised; never includes URLs (they carry the token)."""
    if isinstance(exc, SendError):
        return exc
    if isinstance(exc, WeChatClientException):
        if exc.errcode is not None:
            try:
                return from_errcode(int(exc.errcode), str(exc.errmsg or ""))
            except (TypeError, ValueError):
                return PermanentSendError(str(exc.errcode)[:40], "WeChat refused the request")
        status = getattr(exc.response, "status_code", None)
        if status is None or status >= 500 or status == 429:
            return TransientSendError(status or "http", f"WeChat API answered HTTP {status}")
        return PermanentSendError(status, f"WeChat API answered HTTP {status}")
    if isinstance(exc, requests.Timeout):
        return TransientSendError("timeout", "WeChat API timed out")
    if isinstance(exc, requests.RequestException):
        return TransientSendError("network", f"could not reach the WeChat API: {type(exc).__name__}")
    raise exc
