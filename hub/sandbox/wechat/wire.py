"""The wire format WeChat uses to push fan messages to a server: XML, signatures, safe-mode AES.

Building: `inbound_xml` renders a message or event like WeChat does; `sign_request` turns it into the
query string and body WeChat POSTs in plaintext, compatible or safe mode.
Reading: `read_reply` checks and decrypts the server's passive reply the way WeChat would accept it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import xmltodict
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import WeChatSigner

from .models import Mode

FieldValue = str | int | float


def signature(*parts: str) -> str:
    """sha1 over the sorted parts: `signature` (token, timestamp, nonce) or `msg_signature` (+ Encrypt)."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _element(name: str, value: FieldValue) -> str:
    if isinstance(value, bool):
        raise TypeError(f"{name}: booleans are not a WeChat field type")
    rendered = str(value) if isinstance(value, int | float) else _cdata(value)
    return f"<{name}>{rendered}</{name}>"


def inbound_xml(to_user: str, from_user: str, create_time: int, msg_type: str, fields: Mapping[str, FieldValue]) -> str:
    """Render a message WeChat pushes: numbers bare, strings in CDATA, fields in the given order."""
    head: dict[str, FieldValue] = {
        "ToUserName": to_user,
        "FromUserName": from_user,
        "CreateTime": create_time,
        "MsgType": msg_type,
    }
    return "<xml>" + "".join(_element(k, v) for k, v in {**head, **fields}.items()) + "</xml>"


@dataclass(frozen=True)
class SignedRequest:
    params: dict[str, str]  # the query string WeChat appends to the server URL
    body: bytes  # the POST body
    xml: str  # the plaintext message inside


def sign_request(
    xml: str,
    *,
    token: str,
    app_id: str,
    openid: str,
    to_user: str,
    aes_key: str | None = None,
    mode: Mode = "plain",
    timestamp: int | None = None,
    nonce: str | None = None,
) -> SignedRequest:
    timestamp_s = str(timestamp if timestamp is not None else int(time.time()))
    nonce = nonce or str(secrets.randbelow(9 * 10**9) + 10**9)
    params = {
        "signature": signature(token, timestamp_s, nonce),
        "timestamp": timestamp_s,
        "nonce": nonce,
        "openid": openid,
    }
    if mode == "plain":
        return SignedRequest(params, xml.encode(), xml)
    if not aes_key:
        raise ValueError(f"mode {mode} needs the EncodingAESKey")
    encrypt = PrpCrypto(WeChatCrypto(token, aes_key, app_id).key).encrypt(xml, app_id).decode()
    params.update(encrypt_type="aes", msg_signature=signature(token, timestamp_s, nonce, encrypt))
    if mode == "safe":
        body = f"<xml><ToUserName>{_cdata(to_user)}</ToUserName><Encrypt>{_cdata(encrypt)}</Encrypt></xml>"
    else:  # compatible: the plaintext fields and the ciphertext side by side
        body = xml.removesuffix("</xml>") + f"<Encrypt>{_cdata(encrypt)}</Encrypt></xml>"
    return SignedRequest(params, body.encode(), xml)


@dataclass(frozen=True)
class ReplyCheck:
    fields: dict[str, Any] | None  # the passive reply's fields; None for "success" / empty / unreadable
    error: str | None  # why WeChat would not accept the reply, if it would not


def _parse(text: str) -> dict[str, Any]:
    doc = xmltodict.parse(text, disable_entities=True)
    root = doc.get("xml") if isinstance(doc, dict) else None
    if not isinstance(root, dict):
        raise ValueError("the root element is not <xml>")
    return dict(root)


def read_reply(
    body: bytes,
    *,
    token: str,
    app_id: str,
    openid: str,
    from_user: str,
    aes_key: str | None = None,
    mode: Mode = "plain",
) -> ReplyCheck:
    """Check a passive reply: `success` or empty means none; in safe mode the reply must be encrypted,
    carry a valid MsgSignature and decrypt to this AppID; the reply must address the fan who wrote."""
    try:
        text = body.decode("utf-8").strip()
    except UnicodeDecodeError:
        return ReplyCheck(None, "reply is not valid UTF-8")
    if text in ("", "success"):
        return ReplyCheck(None, None)
    try:
        fields = _parse(text)
    except Exception as exc:  # xmltodict raises expat errors and ValueError subclasses
        return ReplyCheck(None, f"reply is not valid XML: {exc}")
    error: str | None = None
    if "Encrypt" in fields:
        if mode == "plain" or not aes_key:
            return ReplyCheck(None, "encrypted reply but the account is in plaintext mode")
        crypto = WeChatCrypto(token, aes_key, app_id)
        try:
            plain = crypto.decrypt_message(
                text, fields.get("MsgSignature"), fields.get("TimeStamp"), fields.get("Nonce")
            )
        except InvalidSignatureException:
            return ReplyCheck(None, "reply MsgSignature does not match")
        except InvalidAppIdException:
            return ReplyCheck(None, "reply was encrypted for another AppID")
        except Exception as exc:
            return ReplyCheck(None, f"reply cannot be decrypted: {exc}")
        try:
            fields = _parse(plain.decode("utf-8") if isinstance(plain, bytes) else plain)
        except Exception as exc:
            return ReplyCheck(None, f"decrypted reply is not valid XML: {exc}")
    elif mode == "safe":
        error = "plaintext reply but the account is in safe mode"
    if fields.get("ToUserName") != openid:
        error = error or f"reply ToUserName {fields.get('ToUserName')!r} is not the fan {openid!r}"
    elif fields.get("FromUserName") != from_user:
        error = error or f"reply FromUserName {fields.get('FromUserName')!r} is not the account {from_user!r}"
    elif not fields.get("MsgType"):
        error = error or "reply has no MsgType"
    return ReplyCheck(fields, error)
