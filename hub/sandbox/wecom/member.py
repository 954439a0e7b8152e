"""MemberSimulator: acts as WeCom pushing a member's messages and events to a hub's callback URL.

Works without the sandbox server: give it the hub's webhook URL and the app's Token, EncodingAESKey, CorpID
and AgentId. Each call builds the message XML WeCom sends, encrypts and signs it with wechatpy's WeCom crypto
(an implementation independent of the hub's), POSTs it, and returns the passive reply checked and decrypted
the way WeCom reads it. `verify_url` plays the console's URL check (GET with an encrypted echostr).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
import xmltodict
from wechatpy.enterprise.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.utils import WeChatSigner

FieldValue = str | int | float
WECOM_TIMEOUT_S = 5.0  # WeCom waits 5 s for an answer, then retries


def cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def sign(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def new_msg_id() -> int:
    return secrets.randbits(62) + (1 << 62)


@dataclass
class MemberResult:
    status: int | None
    reply_text: str | None = None
    reply: dict[str, Any] | None = None  # every field of the decrypted passive reply
    error: str | None = None  # why WeCom would not accept the answer
    raw: bytes = b""
    msg_id: int | None = None
    sent_xml: str = field(default="", repr=False)

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "ok": self.ok, "reply_text": self.reply_text, "reply": self.reply,
                "error": self.error, "msg_id": self.msg_id, "raw": self.raw.decode("utf-8", "replace")}


class MemberSimulator:
    def __init__(self, url: str, token: str, aes_key: str, corp_id: str, agent_id: int, *,
                 timeout: float = WECOM_TIMEOUT_S, session: requests.Session | None = None) -> None:
        self.url = url
        self.token = token
        self.corp_id = corp_id
        self.agent_id = int(agent_id)
        self.crypto = WeChatCrypto(token, aes_key, corp_id)
        self.timeout = timeout
        self.http = session or requests.Session()

    # -- building ------------------------------------------------------------------------------------------
    def message_xml(self, userid: str, msg_type: str, fields: Mapping[str, FieldValue],
                    create_time: int | None = None) -> str:
        created = int(time.time()) if create_time is None else create_time
        nodes = [f"<ToUserName>{cdata(self.corp_id)}</ToUserName>", f"<FromUserName>{cdata(userid)}</FromUserName>",
                 f"<CreateTime>{created}</CreateTime>", f"<MsgType>{cdata(msg_type)}</MsgType>"]
        for name, value in fields.items():
            nodes.append(f"<{name}>{cdata(value) if isinstance(value, str) else value}</{name}>")
        nodes.append(f"<AgentID>{self.agent_id}</AgentID>")
        return "<xml>" + "".join(nodes) + "</xml>"

    def envelope(self, xml: str, timestamp: int | None = None, nonce: str | None = None) -> tuple[dict, bytes]:
        """The query and body WeCom POSTs for `xml`: encrypted, msg_signature over the ciphertext."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        nonce = nonce or str(secrets.randbelow(10**10))
        encrypted = PrpCrypto(self.crypto.key).encrypt(xml, self.corp_id).decode()
        body = (f"<xml><ToUserName>{cdata(self.corp_id)}</ToUserName><AgentID>{cdata(str(self.agent_id))}</AgentID>"
                f"<Encrypt>{cdata(encrypted)}</Encrypt></xml>")
        query = {"msg_signature": sign(self.token, ts, nonce, encrypted), "timestamp": ts, "nonce": nonce}
        return query, body.encode()

    # -- sending -------------------------------------------------------------------------------------------
    def send(self, userid: str, msg_type: str, fields: Mapping[str, FieldValue], *,
             create_time: int | None = None) -> MemberResult:
        xml = self.message_xml(userid, msg_type, fields, create_time)
        query, body = self.envelope(xml)
        msg_id = fields.get("MsgId")
        result = MemberResult(None, msg_id=int(msg_id) if isinstance(msg_id, int) else None, sent_xml=xml)
        try:
            response = self.http.post(self.url, params=query, data=body, timeout=self.timeout,
                                      headers={"Content-Type": "text/xml"})
        except requests.RequestException as exc:
            result.error = f"cannot reach {self.url}: {type(exc).__name__}"
            return result
        result.status, result.raw = response.status_code, response.content
        if response.status_code != 200:
            result.error = f"HTTP {response.status_code}"
            return result
        self._read_reply(response.content, userid, result)
        return result

    def _read_reply(self, content: bytes, userid: str, result: MemberResult) -> None:
        if not content.strip():
            return  # an empty answer: no reply
        try:
            envelope = xmltodict.parse(content)["xml"]
            xml = self.crypto.decrypt_message(envelope, envelope["MsgSignature"], envelope["TimeStamp"],
                                              envelope["Nonce"])
            reply = dict(xmltodict.parse(xml)["xml"])
        except InvalidSignatureException:
            result.error = "the reply's MsgSignature does not match"
            return
        except Exception as exc:  # noqa: BLE001 - whatever WeCom could not read is the hub's error
            result.error = f"unreadable reply: {type(exc).__name__}"
            return
        result.reply = reply
        if reply.get("ToUserName") != userid or reply.get("FromUserName") != self.corp_id:
            result.error = "the reply is not addressed from the app to this member"
        if reply.get("MsgType") == "text":
            result.reply_text = reply.get("Content") or ""

    def verify_url(self, echostr_plain: str | None = None) -> tuple[int, str, str]:
        """The console's URL check: (status, body, the plaintext the hub had to answer)."""
        plain = echostr_plain or str(secrets.randbelow(10**19))
        echostr = PrpCrypto(self.crypto.key).encrypt(plain, self.corp_id).decode()
        ts, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
        query = {"msg_signature": sign(self.token, ts, nonce, echostr), "timestamp": ts, "nonce": nonce,
                 "echostr": echostr}
        response = self.http.get(self.url, params=query, timeout=self.timeout)
        return response.status_code, response.text, plain

    # -- messages and events -------------------------------------------------------------------------------
    def text(self, userid: str, text: str, msg_id: int | None = None) -> MemberResult:
        return self.send(userid, "text", {"Content": text, "MsgId": msg_id or new_msg_id()})

    def image(self, userid: str, pic_url: str, media_id: str = "media_id", msg_id: int | None = None) -> MemberResult:
        return self.send(userid, "image", {"PicUrl": pic_url, "MediaId": media_id, "MsgId": msg_id or new_msg_id()})

    def voice(self, userid: str, media_id: str = "media_id", msg_id: int | None = None) -> MemberResult:
        return self.send(userid, "voice", {"MediaId": media_id, "Format": "amr", "MsgId": msg_id or new_msg_id()})

    def location(self, userid: str, lat: float, lon: float, label: str = "", msg_id: int | None = None
                 ) -> MemberResult:
        return self.send(userid, "location", {"Location_X": lat, "Location_Y": lon, "Scale": 15, "Label": label,
                                              "MsgId": msg_id or new_msg_id()})

    def link(self, userid: str, title: str, url: str, description: str = "", msg_id: int | None = None
             ) -> MemberResult:
        return self.send(userid, "link", {"Title": title, "Description": description, "Url": url,
                                          "PicUrl": "", "MsgId": msg_id or new_msg_id()})

    def event(self, userid: str, event: str, key: str | None = None, *, create_time: int | None = None
              ) -> MemberResult:
        """subscribe, unsubscribe, enter_agent, click (key: the menu key), view (key: the URL), ..."""
        return self.send(userid, "event", {"Event": event, "EventKey": key or ""}, create_time=create_time)

    def close(self) -> None:
        self.http.close()
