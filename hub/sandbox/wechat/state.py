"""Thread-safe in-memory state of the emulated WeChat: apps, tokens, fans, the customer-service
window and quota, the outbox, tags, the conversation log, counters and fault injection."""

from __future__ import annotations

import dataclasses
import hmac
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from .custom import deliver, opens_window, summary
from .errors import ApiError
from .faults import FaultPlan
from .journal import Journal
from .models import (
    AppConfig,
    ConversationEntry,
    Direction,
    Fan,
    Mode,
    OutboxMessage,
    Token,
    default_unionid,
)
from .tags import TagBook
from .tokens import TokenBook
from .users import followers, user_info


class SandboxState:
    def __init__(
        self,
        *,
        token_ttl: int = 7200,
        token_grace: int = 300,
        window_s: int = 48 * 3600,
        quota: int = 5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token_ttl = token_ttl
        self.token_grace = token_grace
        self.window_s = window_s
        self.quota = quota
        self._clock = clock
        self._offset = 0.0
        self._lock = threading.RLock()
        self.faults = FaultPlan()
        self._init_data()

    def _init_data(self) -> None:
        self._apps: dict[str, AppConfig] = {}
        self._fans: dict[str, dict[str, Fan]] = {}
        self._tags: dict[str, TagBook] = {}
        self._tokens = TokenBook(self.token_ttl, self.token_grace)
        self._journal = Journal()
        self._counters: Counter[str] = Counter()
        self._token_requests: Counter[str] = Counter()
        self._send_errors: Counter[int] = Counter()

    # -- time -------------------------------------------------------------------------------
    def now(self) -> float:
        return self._clock() + self._offset

    def advance(self, seconds: float) -> float:
        """Move the sandbox clock forward (token expiry, the 48 h window) and return the new time."""
        with self._lock:
            self._offset += seconds
            return self.now()

    # -- apps -------------------------------------------------------------------------------
    def register_app(
        self,
        appid: str,
        secret: str,
        *,
        webhook_url: str | None = None,
        token: str | None = None,
        aes_key: str | None = None,
        mode: Mode | None = None,
        original_id: str | None = None,
        with_unionid: bool = True,
    ) -> AppConfig:
        """Register (or re-register) an Official Account; fans and tags of an existing app are kept."""
        config = AppConfig(appid, secret, original_id or "", webhook_url, token, aes_key, mode, with_unionid)
        with self._lock:
            self._apps[appid] = config
            self._fans.setdefault(appid, {})
            self._tags.setdefault(appid, TagBook())
        return dataclasses.replace(config)

    def app(self, appid: str) -> AppConfig | None:
        with self._lock:
            config = self._apps.get(appid)
            return dataclasses.replace(config) if config else None

    def apps(self) -> list[AppConfig]:
        with self._lock:
            return [dataclasses.replace(c) for c in self._apps.values()]

    # -- access tokens ----------------------------------------------------------------------
    def issue_token(self, grant_type: str | None, appid: str | None, secret: str | None) -> Token:
        with self._lock:
            self._counters["token_requests"] += 1
            if appid:
                self._token_requests[appid] += 1
            if grant_type != "client_credential":
                raise ApiError(40002)
            if not appid:
                raise ApiError(41002)
            config = self._apps.get(appid)
            if config is None:
                raise ApiError(40013)
            if not secret:
                raise ApiError(41004)
            if not hmac.compare_digest(secret.encode(), config.secret.encode()):
                raise ApiError(40125)
            self._counters["tokens_issued"] += 1
            return self._tokens.issue(appid, self.now())

    def appid_of_token(self, access_token: str | None) -> str | None:
        """The app a token was issued to, valid or not (for fault matching)."""
        with self._lock:
            return self._tokens.appid_of(access_token)

    def authenticate(self, access_token: str | None) -> str:
        """The appid of a valid token; raises ApiError 41001 / 40001 / 42001 like the real API."""
        with self._lock:
            return self._tokens.authenticate(access_token, self.now())

    # -- fans ------------------------------------------------------------------------------
    def _app_fans(self, appid: str) -> dict[str, Fan]:
        fans = self._fans.get(appid)
        if fans is None:
            raise KeyError(f"unknown appid {appid!r}: register it with POST /sandbox/apps")
        return fans

    def add_fan(self, appid: str, openid: str, *, unionid: str | None = None, subscribe: bool = True) -> Fan:
        """Create or update a fan without opening the customer-service window."""
        if not openid:
            raise ValueError("openid is required")
        with self._lock:
            fans = self._app_fans(appid)
            fan = fans.get(openid)
            if fan is None:
                if unionid is None and self._apps[appid].with_unionid:
                    unionid = default_unionid(appid, openid)
                fan = Fan(openid, unionid, subscribe, int(self.now()) if subscribe else 0)
                fans[openid] = fan
            else:
                fan.unionid = unionid or fan.unionid
                fan.subscribe = subscribe
            return dataclasses.replace(fan, tags=list(fan.tags))

    def record_interaction(self, appid: str, openid: str, kind: str, key: str | None = None) -> Fan:
        """A fan sent a message (kind = MsgType) or an event (kind = Event): update the fan and, for the
        interactions that do so on WeChat, open the 48 h window with a fresh quota."""
        with self._lock:
            fans = self._app_fans(appid)
            if openid not in fans:
                self.add_fan(appid, openid)
            fan = fans[openid]
            now = self.now()
            event = kind.lower()
            if event == "unsubscribe":
                fan.subscribe, fan.window_until, fan.quota_left = False, 0.0, 0
            elif event == "subscribe":
                fan.subscribe, fan.subscribe_time = True, int(now)
                scene = key.removeprefix("qrscene_") if key and key.startswith("qrscene_") else ""
                fan.subscribe_scene = "ADD_SCENE_QR_CODE" if scene else "ADD_SCENE_SEARCH"
                fan.qr_scene = int(scene) if scene.isdigit() else 0
                fan.qr_scene_str = "" if scene.isdigit() else scene
            else:
                fan.subscribe = True  # only followers can write to an account
            if opens_window(kind):
                fan.window_until, fan.quota_left = now + self.window_s, self.quota
            fan.last_interaction = now
            return dataclasses.replace(fan, tags=list(fan.tags))

    def user_info(self, appid: str, openid: str | None) -> dict[str, Any]:
        with self._lock:
            fan = self._app_fans(appid).get(openid or "")
            if fan is None:
                raise ApiError(41009 if not openid else 40003)
            return user_info(fan)

    def followers(self, appid: str, next_openid: str | None) -> dict[str, Any]:
        with self._lock:
            return followers([f.openid for f in self._app_fans(appid).values() if f.subscribe], next_openid)

    def fans(self, appid: str | None = None) -> list[dict[str, Any]]:
        """Fans with their window and quota, for tests and the page."""
        with self._lock:
            now = self.now()
            return [
                {
                    "appid": a,
                    "openid": fan.openid,
                    "unionid": fan.unionid,
                    "subscribe": fan.subscribe,
                    "tags": list(fan.tags),
                    "window_open": fan.window_until > now,
                    "window_until": fan.window_until,
                    "quota_left": fan.quota_left if fan.window_until > now else 0,
                }
                for a, fans in self._fans.items()
                if not appid or a == appid
                for fan in fans.values()
            ]

    # -- customer-service messages ---------------------------------------------------------
    def send_custom(self, appid: str, payload: Any) -> OutboxMessage:
        with self._lock:
            try:
                msg = deliver(appid, self._app_fans(appid), payload, self.now())
            except ApiError as exc:
                self._send_errors[exc.errcode] += 1
                raise
            self._counters["sends"] += 1
            self._journal.outbox.append(msg)
            entry = ConversationEntry(appid, msg.openid, "cs", msg.msgtype, summary(msg), msg.at, "delivered")
            self._journal.entries.append(entry)
            return msg

    def outbox(self, appid: str | None = None, openid: str | None = None) -> list[dict[str, Any]]:
        """Delivered customer-service messages, oldest first."""
        with self._lock:
            return self._journal.delivered(appid, openid)

    # -- conversation log ------------------------------------------------------------------
    def log(self, appid: str, openid: str, direction: Direction, kind: str, text: str, status: str = "") -> None:
        with self._lock:
            self._journal.entries.append(ConversationEntry(appid, openid, direction, kind, text, self.now(), status))

    def conversation(self, appid: str | None = None, openid: str | None = None) -> list[dict[str, Any]]:
        """Fan messages, passive replies and customer-service messages, oldest first."""
        with self._lock:
            return self._journal.conversation(appid, openid)

    # -- tags -----------------------------------------------------------------------------
    def tags(self, appid: str, op: str, *args: Any) -> Any:
        """Run a TagBook operation for an app: create(name), list(), update(id, name), delete(id),
        tag(id, openids), untag(id, openids), tags_of(openid), users(id, next_openid)."""
        with self._lock:
            book, fans = self._tags[appid], self._app_fans(appid)
            if op == "list":
                return book.listing(fans)
            if op in ("delete", "users"):
                return getattr(book, op)(*args, fans)
            if op in ("tag", "untag", "tags_of"):

                def foreign(openid: str) -> bool:
                    return any(openid in f for a, f in self._fans.items() if a != appid)

                return getattr(book, op)(*args, fans, foreign)
            if op in ("create", "update"):
                return getattr(book, op)(*args)
            raise ValueError(f"unknown tag operation {op!r}")

    # -- counters, reset -------------------------------------------------------------------
    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counters[name] += n

    def stats(self) -> dict[str, Any]:
        with self._lock:
            counters = dict(self._counters)
            calls = {k[5:]: counters.pop(k) for k in list(counters) if k.startswith("call:")}
            return {
                "token_requests": counters.pop("token_requests", 0),
                "token_requests_by_app": dict(self._token_requests),
                "tokens_issued": counters.pop("tokens_issued", 0),
                "sends": counters.pop("sends", 0),
                "send_errors": {str(k): v for k, v in self._send_errors.items()},
                "calls": calls,
                "apps": len(self._apps),
                "fans": sum(len(f) for f in self._fans.values()),
                "outbox": len(self._journal.outbox),
                "faults_pending": self.faults.pending(),
                **counters,
            }

    def reset(self, keep_apps: bool = False) -> None:
        """Forget everything (fans, tokens, outbox, counters, faults, clock offset); optionally keep apps."""
        with self._lock:
            apps = self._apps
            self._init_data()
            self.faults.clear()
            self._offset = 0.0
            if keep_apps:
                self._apps = apps
                self._fans = {a: {} for a in apps}
                self._tags = {a: TagBook() for a in apps}
