"""FanSimulator: acts as WeChat pushing a fan's messages and events to a hub webhook.

Works without the sandbox server: give it the hub's webhook URL and the account's Token, AppID and
(for compatible / safe mode) EncodingAESKey. Each call signs (and encrypts) a message exactly as WeChat
does, POSTs it, and returns the passive reply checked and decrypted the way WeChat would read it.
One instance holds one HTTP session: use one per thread.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from .models import Mode, default_original_id
from .wire import FieldValue, SignedRequest, inbound_xml, read_reply, sign_request

WECHAT_TIMEOUT_S = 5.0  # WeChat waits 5 s for the reply, then retries (3 tries in all)


@dataclass
class SimResult:
    status: int | None  # HTTP status of the last attempt; None when no response came
    reply_text: str | None  # Content of a text passive reply
    raw: bytes  # the response body as received
    msg_type: str | None = None  # MsgType of the passive reply (text, transfer_customer_service, ...)
    reply: dict[str, Any] | None = None  # every field of the (decrypted) passive reply
    error: str | None = None  # why WeChat would reject the response (bad signature, timeout, ...)
    msg_id: int | None = None  # MsgId sent (None for events)
    create_time: int = 0
    attempts: int = 1
    elapsed_ms: float = 0.0
    sent_xml: str = field(default="", repr=False)

    @property
    def ok(self) -> bool:
        """The hub answered 200 with a response WeChat accepts (a valid reply, `success` or empty)."""
        return self.status == 200 and self.error is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "ok": self.ok,
            "reply_text": self.reply_text,
            "msg_type": self.msg_type,
            "reply": self.reply,
            "error": self.error,
            "msg_id": self.msg_id,
            "create_time": self.create_time,
            "attempts": self.attempts,
            "elapsed_ms": round(self.elapsed_ms, 2),
            "raw": self.raw.decode("utf-8", "replace"),
        }


class FanSimulator:
    def __init__(
        self,
        url: str,
        token: str,
        app_id: str,
        aes_key: str | None = None,
        *,
        mode: Mode | None = None,
        original_id: str | None = None,
        timeout: float = WECHAT_TIMEOUT_S,
        attempts: int = 1,
        session: requests.Session | None = None,
    ) -> None:
        """`mode` defaults to safe with an aes_key, else plain; `attempts` > 1 retries like WeChat when the
        hub does not answer within `timeout` (same MsgId / CreateTime, so the hub must dedupe)."""
        self.url = url
        self.token = token
        self.app_id = app_id
        self.aes_key = aes_key
        self.mode: Mode = mode or ("safe" if aes_key else "plain")
        if self.mode not in ("plain", "compatible", "safe"):
            raise ValueError("mode must be plain, compatible or safe")
        if self.mode != "plain" and not aes_key:
            raise ValueError(f"mode {self.mode} needs aes_key")
        self.original_id = original_id or default_original_id(app_id)
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.http = session or requests.Session()

    # -- building --------------------------------------------------------------------------
    def build(
        self,
        openid: str,
        msg_type: str,
        fields: Mapping[str, FieldValue],
        *,
        create_time: int | None = None,
        timestamp: int | None = None,
        nonce: str | None = None,
    ) -> SignedRequest:
        """Sign (and encrypt) any message; `fields` follow MsgType (include MsgId for messages)."""
        create_time = int(time.time()) if create_time is None else create_time
        xml = inbound_xml(self.original_id, openid, create_time, msg_type, fields)
        return sign_request(
            xml,
            token=self.token,
            app_id=self.app_id,
            openid=openid,
            to_user=self.original_id,
            aes_key=self.aes_key,
            mode=self.mode,
            timestamp=timestamp,
            nonce=nonce,
        )

    def build_signed_request(
        self, openid: str, text: str, msg_id: int | None = None, create_time: int | None = None
    ) -> tuple[dict[str, str], bytes]:
        """A signed text message without sending it: (query params, body bytes). For load generators."""
        signed = self.build(openid, "text", {"Content": text, "MsgId": msg_id or new_msg_id()}, create_time=create_time)
        return signed.params, signed.body

    # -- sending ---------------------------------------------------------------------------
    def send(
        self, openid: str, msg_type: str, fields: Mapping[str, FieldValue], *, create_time: int | None = None
    ) -> SimResult:
        create_time = int(time.time()) if create_time is None else create_time
        msg_id = fields.get("MsgId")
        started = time.perf_counter()
        result = SimResult(
            None, None, b"", msg_id=int(msg_id) if isinstance(msg_id, int) else None, create_time=create_time
        )
        for attempt in range(1, self.attempts + 1):
            # WeChat signs every try afresh (new timestamp and nonce); the message itself is unchanged.
            signed = self.build(openid, msg_type, fields, create_time=create_time)
            result.attempts, result.sent_xml = attempt, signed.xml
            try:
                response = self.http.post(
                    self.url,
                    params=signed.params,
                    data=signed.body,
                    headers={"Content-Type": "text/xml"},
                    timeout=self.timeout,
                )
            except requests.Timeout:
                result.error = f"no response within {self.timeout:g} s"
                continue
            except requests.ConnectionError as exc:
                result.error = f"cannot reach {self.url}: {exc.__class__.__name__}"
                break
            self._read(response, openid, result)
            break
        result.elapsed_ms = (time.perf_counter() - started) * 1000
        return result

    def _read(self, response: requests.Response, openid: str, result: SimResult) -> None:
        result.status, result.raw, result.error = response.status_code, response.content, None
        if response.status_code != 200:
            result.error = f"HTTP {response.status_code}"
            return
        check = read_reply(
            response.content,
            token=self.token,
            app_id=self.app_id,
            openid=openid,
            from_user=self.original_id,
            aes_key=self.aes_key,
            mode=self.mode,
        )
        result.reply, result.error = check.fields, check.error
        if check.fields:
            result.msg_type = _str(check.fields.get("MsgType"))
            if result.msg_type == "text":
                result.reply_text = _str(check.fields.get("Content")) or ""

    # -- messages --------------------------------------------------------------------------
    def text(self, openid: str, text: str, msg_id: int | None = None) -> SimResult:
        return self.send(openid, "text", {"Content": text, "MsgId": msg_id or new_msg_id()})

    def image(self, openid: str, pic_url: str, media_id: str = "media_id", msg_id: int | None = None) -> SimResult:
        return self.send(openid, "image", {"PicUrl": pic_url, "MediaId": media_id, "MsgId": msg_id or new_msg_id()})

    def voice(
        self,
        openid: str,
        recognition: str | None = None,
        media_id: str = "media_id",
        msg_id: int | None = None,
    ) -> SimResult:
        fields: dict[str, FieldValue] = {"MediaId": media_id, "Format": "amr"}
        if recognition is not None:
            fields["Recognition"] = recognition
        fields["MsgId"] = msg_id or new_msg_id()
        return self.send(openid, "voice", fields)

    def location(
        self, openid: str, lat: float, lon: float, label: str = "", scale: int = 15, msg_id: int | None = None
    ) -> SimResult:
        return self.send(
            openid,
            "location",
            {
                "Location_X": lat,
                "Location_Y": lon,
                "Scale": scale,
                "Label": label,
                "MsgId": msg_id or new_msg_id(),
            },
        )

    def link(self, openid: str, title: str, url: str, description: str = "", msg_id: int | None = None) -> SimResult:
        return self.send(
            openid,
            "link",
            {"Title": title, "Description": description, "Url": url, "MsgId": msg_id or new_msg_id()},
        )

    # -- events ----------------------------------------------------------------------------
    def event(
        self,
        openid: str,
        event: str,
        key: str | None = None,
        *,
        ticket: str | None = None,
        extra: Mapping[str, FieldValue] | None = None,
        create_time: int | None = None,
    ) -> SimResult:
        """Any event: subscribe (key "qrscene_<scene>" for a QR referral), unsubscribe, SCAN, CLICK, VIEW,
        LOCATION (extra Latitude/Longitude/Precision), ..."""
        fields: dict[str, FieldValue] = {"Event": event}
        if key is not None:
            fields["EventKey"] = key
        if ticket is not None:
            fields["Ticket"] = ticket
        fields.update(extra or {})
        return self.send(openid, "event", fields, create_time=create_time)

    def subscribe(self, openid: str, scene: str | None = None) -> SimResult:
        if scene is None:
            return self.event(openid, "subscribe")
        return self.event(openid, "subscribe", f"qrscene_{scene}", ticket=new_ticket())

    def unsubscribe(self, openid: str) -> SimResult:
        return self.event(openid, "unsubscribe")

    def scan(self, openid: str, scene: str) -> SimResult:
        return self.event(openid, "SCAN", scene, ticket=new_ticket())

    def click(self, openid: str, key: str) -> SimResult:
        return self.event(openid, "CLICK", key)

    def view(self, openid: str, url: str) -> SimResult:
        return self.event(openid, "VIEW", url)

    def close(self) -> None:
        self.http.close()


def new_msg_id() -> int:
    """A fresh 64-bit MsgId like WeChat's."""
    return secrets.randbits(62) + (1 << 62)


def new_ticket() -> str:
    return secrets.token_urlsafe(72)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
