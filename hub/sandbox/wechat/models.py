"""Plain records held by the sandbox state. They are mutated only under SandboxState's lock."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

Mode = Literal["plain", "compatible", "safe"]
Direction = Literal["in", "passive", "cs"]


def default_original_id(appid: str) -> str:
    """The account's original id (gh_...), the ToUserName of every inbound message."""
    return "gh_" + hashlib.sha1(appid.encode()).hexdigest()[:12]  # noqa: S324 - an identifier, not a secret


def default_unionid(appid: str, openid: str) -> str:
    """A stable, openid-shaped unionid, as if the account were bound to an Open Platform account."""
    return "oU" + hashlib.sha1(f"{appid}:{openid}".encode()).hexdigest()[:26]  # noqa: S324


@dataclass
class AppConfig:
    """A registered Official Account; validated on creation (ValueError says what is wrong)."""

    appid: str
    secret: str
    original_id: str = ""  # default: derived from the appid
    webhook_url: str | None = None
    token: str | None = None
    aes_key: str | None = None
    mode: Mode | None = None  # default: safe with an aes_key, else plain
    with_unionid: bool = True

    def __post_init__(self) -> None:
        if not self.appid or not self.secret:
            raise ValueError("appid and secret are required")
        if self.aes_key is not None and len(self.aes_key) != 43:
            raise ValueError("aes_key (EncodingAESKey) must be 43 characters")
        self.mode = self.mode or ("safe" if self.aes_key else "plain")
        if self.mode not in ("plain", "compatible", "safe"):
            raise ValueError("mode must be plain, compatible or safe")
        if self.mode != "plain" and not self.aes_key:
            raise ValueError(f"mode {self.mode} needs aes_key")
        if self.webhook_url and not self.token:
            raise ValueError("a webhook_url needs the token the hub checks signatures with")
        self.original_id = self.original_id or default_original_id(self.appid)

    def public(self) -> dict[str, Any]:
        """What may be shown: never the secret, the token or the AES key."""
        return {
            "appid": self.appid,
            "original_id": self.original_id,
            "webhook_url": self.webhook_url,
            "mode": self.mode,
            "with_unionid": self.with_unionid,
        }


@dataclass
class Fan:
    openid: str
    unionid: str | None
    subscribe: bool = True
    subscribe_time: int = 0
    subscribe_scene: str = "ADD_SCENE_OTHERS"
    qr_scene: int = 0
    qr_scene_str: str = ""
    language: str = "zh_CN"
    remark: str = ""
    tags: list[int] = field(default_factory=list)
    window_until: float = 0.0  # end of the 48 h customer-service window
    quota_left: int = 0  # customer-service messages still allowed in the window
    last_interaction: float = 0.0


@dataclass
class Token:
    value: str
    appid: str
    issued_at: float
    expires_at: float
    superseded_at: float | None = None


@dataclass
class OutboxMessage:
    appid: str
    openid: str
    msgtype: str
    payload: dict[str, Any]
    at: float
    kf_account: str | None = None

    @property
    def text(self) -> str | None:
        if self.msgtype == "text":
            content = self.payload.get("content")
            return content if isinstance(content, str) else None
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "appid": self.appid,
            "touser": self.openid,
            "msgtype": self.msgtype,
            self.msgtype: self.payload,
            "text_content": self.text,
            "kf_account": self.kf_account,
            "at": self.at,
        }


@dataclass
class ConversationEntry:
    appid: str
    openid: str
    direction: Direction
    kind: str
    text: str
    at: float
    status: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "appid": self.appid,
            "openid": self.openid,
            "direction": self.direction,
            "kind": self.kind,
            "text": self.text,
            "at": self.at,
            "status": self.status,
        }
