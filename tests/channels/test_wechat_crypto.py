"""Signatures and safe-mode crypto against the official worked examples, wechatpy's vectors, and wechatpy."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wechatpy.crypto import PrpCrypto

from channels.wechat.crypto import CryptoError, MessageCrypto, sign, signature_matches
from tests.channels.conftest import AES_KEY, APP_ID, FIXTURES, TOKEN

VECTORS = json.loads((FIXTURES / "crypto_vectors.json").read_text(encoding="utf-8"))


def test_official_url_verification_signature() -> None:
    v = VECTORS["oa_url_verify_get"]
    q = v["query"]
    assert signature_matches(sign(v["token"], q["timestamp"], q["nonce"]), q["signature"])
    assert not signature_matches(sign(v["token"], q["timestamp"], q["nonce"] + "1"), q["signature"])


def test_official_safe_mode_message_and_reply() -> None:
    v = VECTORS["oa_safe_mode_post_json"]
    q = v["query"]
    crypto = MessageCrypto(v["token"], v["encoding_aes_key"], v["appid"])
    assert crypto.decrypt_verified(q["msg_signature"], q["timestamp"], q["nonce"], v["body"]["Encrypt"]) == (
        v["expected_plaintext"]
    )
    # msg_signature, not signature, covers the ciphertext
    assert signature_matches(sign(v["token"], q["timestamp"], q["nonce"]), q["signature"])
    r = v["reply"]
    encrypted = crypto.encrypt(r["plaintext"], r["random16"].encode())
    assert encrypted == r["expected_Encrypt"]
    assert sign(v["token"], r["timestamp"], r["nonce"], encrypted) == r["expected_MsgSignature"]
    envelope = crypto.encrypt_reply(r["plaintext"], r["nonce"], r["timestamp"], r["random16"].encode())
    assert f"<MsgSignature><![CDATA[{r['expected_MsgSignature']}]]></MsgSignature>" in envelope


def test_wechatpy_vectors() -> None:
    v = VECTORS["wechatpy_crypto"]
    crypto = MessageCrypto(v["token"], v["encoding_aes_key"], v["receiveid"])
    ok = v["check_signature_ok"]
    assert crypto.decrypt_verified(ok["msg_signature"], ok["timestamp"], ok["nonce"], ok["echostr"]) == (
        ok["expected_response_body"]
    )
    bad = v["check_signature_fail"]
    with pytest.raises(CryptoError) as err:
        crypto.decrypt_verified(bad["msg_signature"], bad["timestamp"], bad["nonce"], ok["echostr"])
    assert err.value.status == 403
    enc = v["encrypt"]
    encrypted = crypto.encrypt(enc["plaintext"], enc["random16"].encode())
    assert encrypted == enc["expected_Encrypt"]
    assert sign(v["token"], enc["timestamp"], enc["nonce"], encrypted) == enc["expected_MsgSignature"]
    dec = v["decrypt"]
    plain = crypto.decrypt_verified(dec["msg_signature"], dec["timestamp"], dec["nonce"], dec["Encrypt"])
    for tag, value in dec["expected_fields"].items():
        assert f"<{tag}><![CDATA[{value}]]></{tag}>" in plain

    s = VECTORS["wechatpy_check_signature"]
    assert signature_matches(sign(s["token"], s["timestamp"], s["nonce"]), s["signature_ok"])
    assert not signature_matches(sign(s["token"], s["timestamp"], s["nonce"]), s["signature_bad"])
    assert not signature_matches(sign(s["token"], s["timestamp"], s["nonce"]), None)
    assert not signature_matches(sign(s["token"], s["timestamp"], s["nonce"]), "ü" * 40)


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=300))
def test_round_trips_with_wechatpy_both_ways(text: str) -> None:
    ours = MessageCrypto(TOKEN, AES_KEY, APP_ID)
    theirs = PrpCrypto(ours.key)
    assert theirs.decrypt(ours.encrypt(text), APP_ID) == text
    assert ours.decrypt(theirs.encrypt(text, APP_ID).decode()) == text


def test_block_aligned_plaintext_gets_a_full_padding_block() -> None:
    crypto = MessageCrypto(TOKEN, AES_KEY, APP_ID)
    text = "x" * (64 - 16 - 4 - len(APP_ID))  # plaintext is exactly 64 bytes
    assert len(base64.b64decode(crypto.encrypt(text))) == 96
    assert crypto.decrypt(crypto.encrypt(text)) == text


@pytest.mark.parametrize(
    "encrypted, reason",
    [
        ("not base64!", "base64"),
        (base64.b64encode(b"0" * 15).decode(), "AES blocks"),
        ("", "AES blocks"),
        (base64.b64encode(b"0" * 32).decode(), "padding"),
    ],
)
def test_malformed_ciphertext(encrypted: str, reason: str) -> None:
    with pytest.raises(CryptoError, match=reason) as err:
        MessageCrypto(TOKEN, AES_KEY, APP_ID).decrypt(encrypted)
    assert err.value.status == 400


def test_wrong_app_id_is_forbidden() -> None:
    encrypted = MessageCrypto(TOKEN, AES_KEY, "wxother").encrypt("<xml/>")
    with pytest.raises(CryptoError, match="AppID") as err:
        MessageCrypto(TOKEN, AES_KEY, APP_ID).decrypt(encrypted)
    assert err.value.status == 403


@pytest.mark.parametrize("key", ["", "short", "!" * 43, AES_KEY[:-1] + "@"])
def test_invalid_encoding_aes_key(key: str) -> None:
    with pytest.raises(CryptoError):
        MessageCrypto(TOKEN, key, APP_ID)
