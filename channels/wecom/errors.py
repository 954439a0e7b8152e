"""Classify WeCom API answers (全局错误码) into permanent (do not retry) and transient (retry with back-off)."""

from __future__ import annotations

from channels.base import PermanentSendError, SendError, TransientSendError

# The token is invalid or expired: fetch a new one once and retry once.
TOKEN_ERRORS = frozenset({40014, 42001, 41001})

PERMANENT_REASONS = {
    40001: "invalid Secret: check the app's Secret in WeCom's console",
    40013: "invalid CorpID",
    40014: "access token rejected even after a refresh",
    42001: "access token expired even after a refresh",
    41001: "access token missing",
    40056: "invalid AgentID",
    40008: "invalid message type",
    44004: "empty text",
    45002: "message too long",
    48002: "the app is not allowed to call this API",
    60011: "the app has no permission for this member",
    60020: "the server's IP address is not on the app's trusted IP list",
    81013: "the member is not in the app's visible range (or does not exist)",
    82001: "no recipient: the member, department and tag lists are all empty",
}
# Worth retrying later.
TRANSIENT_REASONS = {
    -1: "WeCom is busy",
    45009: "API called too often, slow down",
    45033: "too many concurrent calls",
}


def from_errcode(errcode: int, errmsg: str) -> SendError:
    errmsg = (errmsg or "")[:200]
    if errcode in TRANSIENT_REASONS:
        return TransientSendError(errcode, f"{TRANSIENT_REASONS[errcode]} ({errmsg})")
    reason = PERMANENT_REASONS.get(errcode, "WeCom refused the request")
    return PermanentSendError(errcode, f"{reason} ({errmsg})")
