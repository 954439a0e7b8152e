"""WeChat callback signatures and safe-mode (AES) message crypto.

Implemented here rather than through wechatpy's WeChatCrypto because that compares signatures with `!=`,
does not validate padding or lengths, and raises generic errors on malformed input; the wire format is the
same (tests cross-check against wechatpy in both directions).

Format (消息加解密说明): key = b64decode(EncodingAESKey + "="), AES-256-CBC with IV = key[:16],
PKCS#7 padding to 32-byte blocks, plaintext = random(16) ‖ len(msg) as 4 bytes big-endian ‖ msg ‖ AppID.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import string
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK_SIZE = 32  # WeChat pads to 32 bytes, not AES's 16
_RANDOM_ALPHABET = string.ascii_letters + string.digits


class CryptoError(Exception):
    """A message that cannot be authenticated or decrypted. `status` is the HTTP status to answer with."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def _utf8(value: str) -> bytes:
    # Query values come from the network; "replace" keeps encoding total (no exception on lone surrogates).
    return value.encode("utf-8", "replace")


def sign(*parts: str) -> str:
    """sha1 of the sorted, concatenated parts: `signature` (token, timestamp, nonce) and
    `msg_signature` (token, timestamp, nonce, Encrypt)."""
    return hashlib.sha1(b"".join(sorted(_utf8(p) for p in parts))).hexdigest()  # noqa: S324 - protocol


def signature_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a hex signature with what the request carried."""
    if not given:
        return False
    return hmac.compare_digest(_utf8(expected), _utf8(given.lower()))


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key from the 43-character EncodingAESKey."""
    if len(encoding_aes_key) != 43:
        raise CryptoError("EncodingAESKey must be 43 characters", status=403)
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CryptoError("EncodingAESKey is not valid base64", status=403) from exc
    if len(key) != 32:
        raise CryptoError("EncodingAESKey does not decode to 32 bytes", status=403)
    return key


class MessageCrypto:
    """Encrypts and decrypts safe-mode payloads of one account."""

    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        self.token = token
        self.key = decode_aes_key(encoding_aes_key)
        self.app_id = app_id

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def encrypt(self, text: str, random16: bytes | None = None) -> str:
        """Base64 ciphertext of `text`, as WeChat and wechatpy produce it."""
        if random16 is None:
            random16 = "".join(secrets.choice(_RANDOM_ALPHABET) for _ in range(16)).encode()
        if len(random16) != 16:
            raise ValueError("random prefix must be 16 bytes")
        msg = text.encode("utf-8")
        plain = random16 + struct.pack(">I", len(msg)) + msg + self.app_id.encode("utf-8")
        pad = BLOCK_SIZE - len(plain) % BLOCK_SIZE  # 1..32; a full block when already aligned
        plain += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")

    def decrypt(self, encrypted: str) -> str:
        """The message inside an `Encrypt` value; checks padding, length and the AppID."""
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CryptoError("Encrypt is not valid base64") from exc
        if not data or len(data) % 16:
            raise CryptoError("Encrypt is not a whole number of AES blocks")
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK_SIZE or plain[-pad:] != bytes([pad]) * pad:
            raise CryptoError("bad padding after decryption (wrong EncodingAESKey?)")
        content = plain[16:-pad]
        if len(content) < 4:
            raise CryptoError("decrypted payload too short")
        (length,) = struct.unpack(">I", content[:4])
        if length > len(content) - 4:
            raise CryptoError("decrypted length prefix exceeds the payload")
        msg, app_id = content[4 : 4 + length], content[4 + length :]
        if not hmac.compare_digest(app_id, self.app_id.encode("utf-8")):
            raise CryptoError("AppID in the encrypted payload does not match the account", status=403)
        try:
            return msg.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CryptoError("decrypted message is not valid UTF-8") from exc

    def decrypt_verified(self, msg_signature: str | None, timestamp: str, nonce: str, encrypted: str) -> str:
        """Check `msg_signature` over the ciphertext, then decrypt it."""
        if not signature_matches(sign(self.token, timestamp, nonce, encrypted), msg_signature):
            raise CryptoError("msg_signature does not match", status=403)
        return self.decrypt(encrypted)

    def encrypt_reply(self, xml: str, nonce: str, timestamp: str, random16: bytes | None = None) -> str:
        """The encrypted passive-reply envelope, byte-compatible with wechatpy's `encrypt_message`."""
        encrypted = self.encrypt(xml, random16)
        signature = sign(self.token, timestamp, nonce, encrypted)
        return (
            "<xml>\n"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt>\n"
            f"<MsgSignature><![CDATA[{signature}]]></MsgSignature>\n"
            f"<TimeStamp>{timestamp}</TimeStamp>\n"
            f"<Nonce><![CDATA[{nonce}]]></Nonce>\n"
            "</xml>"
        )

