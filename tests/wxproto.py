"""Independent, test-only implementation of WeChat's WXBizMsgCrypt protocol.

Deliberately does not use wechatpy: it is a second implementation the tests use
to talk to the server. Standard library plus ``cryptography`` only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import xml.etree.ElementTree as ET

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PAD_BLOCK = 32  # WeChat pads PKCS#7-style to 32 bytes (not AES's 16).


def _sha1_sorted(*parts: str) -> str:
    """Return hex sha1 of the lexicographically sorted, concatenated parts."""
    return hashlib.sha1("".join(sorted(str(p) for p in parts)).encode("utf-8")).hexdigest()


def url_signature(token: str, timestamp: str, nonce: str) -> str:
    """Return the ``signature`` query value: sha1(sorted([token, timestamp, nonce]))."""
    return _sha1_sorted(token, timestamp, nonce)


def msg_signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """Return the ``msg_signature``: sha1(sorted([token, timestamp, nonce, encrypt]))."""
    return _sha1_sorted(token, timestamp, nonce, encrypt)


def _key(encoding_aes_key: str) -> bytes:
    """Decode the 43-char EncodingAESKey into the 32-byte AES key."""
    if len(encoding_aes_key) != 43:
        raise ValueError("EncodingAESKey must be 43 characters")
    key = base64.b64decode(encoding_aes_key + "=", validate=True)
    if len(key) != 32:
        raise ValueError("EncodingAESKey must decode to 32 bytes")
    return key


def encrypt(plain_xml: str, encoding_aes_key: str, appid: str, random16: bytes | None = None) -> str:
    """Encrypt ``plain_xml`` in safe mode and return the base64 ``Encrypt`` value."""
    key = _key(encoding_aes_key)
    rnd = secrets.token_bytes(16) if random16 is None else random16
    if len(rnd) != 16:
        raise ValueError("random16 must be exactly 16 bytes")
    msg = plain_xml.encode("utf-8")
    data = rnd + struct.pack(">I", len(msg)) + msg + appid.encode("utf-8")
    pad = PAD_BLOCK - len(data) % PAD_BLOCK  # 1..32, a full block when aligned
    data += bytes([pad]) * pad
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(data) + enc.finalize()).decode("ascii")


def decrypt_raw(encrypt_b64: str, encoding_aes_key: str) -> tuple[bytes, bytes, bytes]:
    """Decrypt and unpad; return (random16, message bytes, appid bytes)."""
    key = _key(encoding_aes_key)
    try:
        blob = base64.b64decode(encrypt_b64, validate=True)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"Encrypt is not valid base64: {exc}") from exc
    if not blob or len(blob) % 16:
        raise ValueError("ciphertext length is not a multiple of the AES block size")
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    data = dec.update(blob) + dec.finalize()
    pad = data[-1]
    if not 1 <= pad <= PAD_BLOCK or data[-pad:] != bytes([pad]) * pad:
        raise ValueError("bad padding")
    data = data[:-pad]
    if len(data) < 20:
        raise ValueError("plaintext too short")
    (length,) = struct.unpack(">I", data[16:20])
    if 20 + length > len(data):
        raise ValueError("declared message length exceeds plaintext")
    return data[:16], data[20 : 20 + length], data[20 + length :]


def decrypt(encrypt_b64: str, encoding_aes_key: str, appid: str) -> str:
    """Decrypt a base64 ``Encrypt`` value, check its trailing appid, return the message."""
    _, msg, got_appid = decrypt_raw(encrypt_b64, encoding_aes_key)
    if got_appid != appid.encode("utf-8"):
        raise ValueError(f"appid mismatch: got {got_appid!r}, expected {appid!r}")
    return msg.decode("utf-8")


def _cdata(text: str) -> str:
    """Wrap text in CDATA, splitting any embedded ``]]>``."""
    return "<![CDATA[" + str(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def build_plain_text_message(to_user: str, from_user: str, content: str, msg_id: int | str, create_time: int | str) -> str:
    """Build a WeChat text-message XML the way WeChat sends it (CDATA strings)."""
    return (
        f"<xml><ToUserName>{_cdata(to_user)}</ToUserName>\n"
        f"<FromUserName>{_cdata(from_user)}</FromUserName>\n"
        f"<CreateTime>{int(create_time)}</CreateTime>\n"
        f"<MsgType>{_cdata('text')}</MsgType>\n"
        f"<Content>{_cdata(content)}</Content>\n"
        f"<MsgId>{int(msg_id)}</MsgId>\n"
        "</xml>"
    )


def plain_post_params(token: str, timestamp: str, nonce: str) -> dict[str, str]:
    """Return the query params WeChat sends with a plain-mode POST."""
    return {"signature": url_signature(token, timestamp, nonce), "timestamp": str(timestamp), "nonce": str(nonce)}


def build_encrypted_post(
    plain_xml: str,
    token: str,
    encoding_aes_key: str,
    appid: str,
    timestamp: str,
    nonce: str,
    compatible: bool = False,
) -> tuple[dict[str, str], str]:
    """Return (query params, body XML) of a safe-mode (or compatible-mode) POST."""
    enc = encrypt(plain_xml, encoding_aes_key, appid)
    params = plain_post_params(token, timestamp, nonce)
    params["encrypt_type"] = "aes"
    params["msg_signature"] = msg_signature(token, timestamp, nonce, enc)
    enc_elem = f"<Encrypt>{_cdata(enc)}</Encrypt>"
    if compatible:
        # Plain fields kept verbatim, Encrypt appended; msg_signature covers Encrypt only.
        head, sep, _ = plain_xml.rstrip().rpartition("</xml>")
        if not sep:
            raise ValueError("plain_xml has no closing </xml>")
        return params, f"{head}{enc_elem}\n</xml>"
    try:
        to_user = ET.fromstring(plain_xml).findtext("ToUserName") or ""
    except ET.ParseError:  # tests also encrypt hostile or broken payloads
        to_user = ""
    return params, f"<xml><ToUserName>{_cdata(to_user)}</ToUserName>\n{enc_elem}\n</xml>"


def parse_encrypted_reply(reply_xml: str, token: str, encoding_aes_key: str, appid: str) -> str:
    """Verify a safe-mode passive reply's MsgSignature and return the decrypted inner XML."""
    try:
        root = ET.fromstring(reply_xml)
    except ET.ParseError as exc:
        raise ValueError(f"reply is not XML: {exc}") from exc
    fields = {name: root.findtext(name) for name in ("Encrypt", "MsgSignature", "TimeStamp", "Nonce")}
    missing = [name for name, value in fields.items() if not value]
    if missing:
        raise ValueError(f"reply is missing {', '.join(missing)}")
    expected = msg_signature(token, fields["TimeStamp"], fields["Nonce"], fields["Encrypt"])
    if not hmac.compare_digest(expected, fields["MsgSignature"].strip()):
        raise ValueError("reply MsgSignature does not verify")
    return decrypt(fields["Encrypt"], encoding_aes_key, appid)
