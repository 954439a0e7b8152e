"""The WeCom emulation's in-memory state: apps, access tokens, members, the outbox, scripted faults.

Thread-safe: every method takes the one lock. Tokens behave like the real API's: 7200 s, a new gettoken
supersedes the app's previous token (which then answers 40014), an expired one answers 42001.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

TOKEN_TTL = 7200

# errcode -> errmsg, as the WeCom API words them (全局错误码).
ERRMSG: dict[int, str] = {
    -1: "system busy",
    0: "ok",
    40001: "invalid secret",
    40008: "invalid message type",
    40013: "invalid corpid",
    40014: "invalid access_token",
    40056: "invalid agentid",
    41001: "access_token missing",
    41002: "corpid missing",
    41004: "corpsecret missing",
    42001: "access_token expired",
    44004: "empty content",
    45009: "api freq out of limit",
    47001: "data format error",
    81013: "user & party & tag all invalid",
    82001: "All touser & toparty & totag invalid",
}


class ApiError(Exception):
    """A WeCom API error, answered as {"errcode", "errmsg"} with HTTP 200 like the real API."""

    def __init__(self, errcode: int) -> None:
        super().__init__(errcode)
        self.errcode = errcode

    def body(self) -> dict[str, Any]:
        hint = f", hint: [{int(time.time())}_{secrets.token_hex(4)}]"
        return {"errcode": self.errcode, "errmsg": ERRMSG.get(self.errcode, "unknown error") + hint}


@dataclass
class App:
    corp_id: str
    secret: str
    agent_id: int
    token: str = ""  # the callback's Token and EncodingAESKey, to play members writing to the hub
    aes_key: str = ""
    webhook_url: str = ""
    members: set[str] = field(default_factory=set)

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        for secret in ("secret", "token", "aes_key"):
            data.pop(secret)
        data["members"] = sorted(self.members)
        return data


@dataclass
class Token:
    value: str
    app: App
    expires_at: float
    superseded: bool = False


@dataclass
class Fault:
    endpoint: str  # "gettoken" or "message/send"
    errcode: int
    count: int


class SandboxState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.apps: dict[tuple[str, int], App] = {}
        self.tokens: dict[str, Token] = {}
        self.outbox: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self.clock_offset = 0.0
        self.token_fetches = 0

    def now(self) -> float:
        return time.time() + self.clock_offset

    def add_app(self, app: App) -> App:
        with self.lock:
            self.apps[(app.corp_id, app.agent_id)] = app
            return app

    def app(self, corp_id: str, agent_id: int) -> App | None:
        with self.lock:
            return self.apps.get((corp_id, agent_id))

    def add_member(self, corp_id: str, agent_id: int, userid: str) -> None:
        with self.lock:
            app = self.apps.get((corp_id, agent_id))
            if app is not None:
                app.members.add(userid)

    def fault(self, endpoint: str) -> None:
        """Raise the next scripted fault of `endpoint`, if any (under the lock)."""
        for fault in self.faults:
            if fault.endpoint == endpoint and fault.count > 0:
                fault.count -= 1
                raise ApiError(fault.errcode)

    def issue_token(self, corp_id: str | None, secret: str | None) -> Token:
        with self.lock:
            if not corp_id:
                raise ApiError(41002)
            if not secret:
                raise ApiError(41004)
            apps = [a for a in self.apps.values() if a.corp_id == corp_id]
            if not apps:
                raise ApiError(40013)
            app = next((a for a in apps if secrets.compare_digest(a.secret, secret)), None)
            if app is None:
                raise ApiError(40001)
            self.fault("gettoken")
            for old in self.tokens.values():
                if old.app is app:
                    old.superseded = True
            self.token_fetches += 1
            token = Token(secrets.token_urlsafe(48), app, self.now() + TOKEN_TTL)
            self.tokens[token.value] = token
            return token

    def send(self, access_token: str | None, payload: Any) -> dict[str, Any]:
        """message/send: check the token, the agent and the recipient; record the message in the outbox."""
        with self.lock:
            if not access_token:
                raise ApiError(41001)
            token = self.tokens.get(access_token)
            if token is None or token.superseded:
                raise ApiError(40014)
            if self.now() >= token.expires_at:
                raise ApiError(42001)
            self.fault("message/send")
            if not isinstance(payload, dict):
                raise ApiError(47001)
            app = token.app
            if payload.get("agentid") != app.agent_id:
                raise ApiError(40056)
            if payload.get("msgtype") != "text":
                raise ApiError(40008)
            text = payload.get("text")
            content = text.get("content") if isinstance(text, dict) else None
            if not isinstance(content, str) or not content:
                raise ApiError(44004)
            touser = payload.get("touser")
            users = touser.split("|") if isinstance(touser, str) and touser else []
            if not users:
                raise ApiError(82001)
            valid = [u for u in users if u in app.members]
            if not valid:
                raise ApiError(81013)
            msgid = secrets.token_urlsafe(24)
            for userid in valid:
                self.outbox.append({"corpid": app.corp_id, "agentid": app.agent_id, "touser": userid,
                                    "msgtype": "text", "text": {"content": content}, "msgid": msgid,
                                    "sent_at": self.now()})
            invalid = "|".join(u for u in users if u not in app.members)
            return {"errcode": 0, "errmsg": "ok", "invaliduser": invalid, "msgid": msgid}

    def expire_tokens(self) -> int:
        with self.lock:
            for token in self.tokens.values():
                token.expires_at = min(token.expires_at, self.now() - 1)
            return len(self.tokens)

    def reset(self) -> None:
        with self.lock:
            self.apps.clear()
            self.tokens.clear()
            self.outbox.clear()
            self.faults.clear()
            self.clock_offset = 0.0
            self.token_fetches = 0
