"""WeChat API error codes the sandbox emits, with messages in the style of the real API."""

from __future__ import annotations

import secrets

# errcode -> errmsg, as documented for the Official Account API (全局返回码说明 and the per-API docs).
ERRMSG: dict[int, str] = {
    -1: "system error",
    0: "ok",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40008: "invalid message type",
    40013: "invalid appid",
    40032: "invalid openid list size, at most 50 openids per call",
    40125: "invalid appsecret",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41009: "missing openid",
    42001: "access_token expired",
    44002: "empty post data",
    44004: "empty content",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit, must slower, retry next minute",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    45056: "too many tags, an account has at most 100 tags",
    45058: "can't modify sys tag",
    45059: "too many tags on this user, a user has at most 20 tags",
    45157: "invalid tag name, a tag with this name already exists",
    45158: "tag name too long, at most 30 characters",
    45159: "invalid tag id",
    47001: "data format error",
    49003: "not match openid with appid",
}


def rid() -> str:
    """A request id like the one the real API appends to error messages."""
    return f"{secrets.token_hex(4)}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"


class ApiError(Exception):
    """A WeChat API error, rendered as ``{"errcode": ..., "errmsg": ...}`` with HTTP 200 like the real API."""

    def __init__(self, errcode: int, errmsg: str | None = None) -> None:
        self.errcode = errcode
        self.errmsg = errmsg or ERRMSG.get(errcode, "unknown error")
        super().__init__(f"{errcode}: {self.errmsg}")

    def body(self) -> dict[str, object]:
        return {"errcode": self.errcode, "errmsg": f"{self.errmsg} rid: {rid()}"}
