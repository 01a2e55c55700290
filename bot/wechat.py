"""The only module that imports wechatpy: signatures, AES, parsing into Inbound, replies."""
from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from xml.parsers.expat import ExpatError

import wechatpy
import xmltodict  # wechatpy's own XML parser; entity declarations refused
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import WeChatSigner

from bot.config import WechatConfig
from bot.errors import BadSignature, MalformedMessage, StaleRequest
from bot.inbound import Inbound, Kind

_KINDS = {"text": Kind.TEXT, "voice": Kind.VOICE, "image": Kind.IMAGE, "location": Kind.LOCATION,
          "event": Kind.EVENT}


class Mode(str, Enum):
    PLAIN = "plain"
    AES = "aes"  # safe mode, and compatible mode (plain fields + Encrypt)


@dataclass(frozen=True)
class Envelope:
    """What a verified request carried besides the message: how to answer it."""

    mode: Mode
    nonce: str
    timestamp: str


def sign(*parts: str) -> str:
    """WeChat's SHA1 signature over the sorted parts."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def verify_signature(token: str, signature: str, *parts: str) -> None:
    """Raise BadSignature unless signature matches, compared in constant time."""
    expected = sign(token, *parts)
    if not signature or not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        raise BadSignature("signature does not match")


def check_fresh(timestamp: str, now: int, max_skew: int) -> None:
    """Raise StaleRequest when the timestamp is further than max_skew seconds from now (0 = off)."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        raise StaleRequest("timestamp is not a number") from None
    if max_skew and abs(now - ts) > max_skew:
        raise StaleRequest("timestamp outside the allowed clock skew")


class WechatCodec:
    """Verify, decrypt and parse WeChat requests; render replies in the request's mode."""

    def __init__(self, config: WechatConfig) -> None:
        self.config = config
        self.crypto = (WeChatCrypto(config.token, config.encoding_aes_key, config.appid)
                       if config.safe_mode else None)

    def verify_url(self, args: Mapping[str, str], now: int) -> str:
        """GET /wechat: check the signature and return echostr."""
        timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
        verify_signature(self.config.token, args.get("signature", ""), timestamp, nonce)
        check_fresh(timestamp, now, self.config.max_clock_skew_seconds)
        echostr = args.get("echostr", "")
        if not echostr:
            raise MalformedMessage("echostr missing")
        return echostr

    def decode(self, body: bytes, args: Mapping[str, str], now: int) -> tuple[Inbound, Envelope]:
        """POST /wechat: verify and decrypt the body, then parse it into an Inbound."""
        timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
        aes = args.get("encrypt_type", "raw").lower() == "aes"
        if aes:
            xml = self._decrypt(body, args.get("msg_signature", ""), timestamp, nonce)
            if "signature" in args:
                verify_signature(self.config.token, args["signature"], timestamp, nonce)
        else:
            if self.crypto is not None:
                # A plain request's signature does not cover its body, so once the
                # account is in safe mode a plain body could be forged: refuse it.
                raise BadSignature("this account is in safe mode; plain requests are refused")
            verify_signature(self.config.token, args.get("signature", ""), timestamp, nonce)
            xml = _text(body)
        check_fresh(timestamp, now, self.config.max_clock_skew_seconds)
        return parse(xml), Envelope(Mode.AES if aes else Mode.PLAIN, nonce, timestamp)

    def encode(self, text: str, msg: Inbound, envelope: Envelope, now: int) -> str:
        """A passive text reply in the request's mode ('' when there is nothing to say)."""
        if not text:
            return ""
        xml = TextReply(source=msg.recipient, target=msg.sender, content=text, time=now).render()
        if envelope.mode is Mode.PLAIN:
            return xml
        if self.crypto is None:
            raise BadSignature("safe mode is not configured")
        return self.crypto.encrypt_message(xml, envelope.nonce or secrets.token_hex(8), str(now))

    def _decrypt(self, body: bytes, msg_signature: str, timestamp: str, nonce: str) -> str:
        if self.crypto is None:
            raise BadSignature("safe mode is not configured on this server")
        encrypt = _field(_text(body), "Encrypt")
        verify_signature(self.config.token, msg_signature, timestamp, nonce, encrypt)
        try:
            plain = PrpCrypto(self.crypto.key).decrypt(encrypt, self.config.appid)
        except (InvalidAppIdException, InvalidSignatureException):
            raise BadSignature("message is for another appid") from None
        except Exception:  # noqa: BLE001 - any failure to decrypt is a refusal, not a 500
            raise MalformedMessage("Encrypt does not decrypt") from None
        return _text(plain)


def parse(xml: str) -> Inbound:
    """Parse plain message XML into our Inbound type (entities and nesting are refused)."""
    try:
        msg = wechatpy.parse_message(xml)
    except (ExpatError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise MalformedMessage(f"not a WeChat message: {type(e).__name__}") from None
    if msg is None:
        raise MalformedMessage("empty body")
    data = msg._data
    if any(not isinstance(v, str) for v in data.values() if v is not None):
        raise MalformedMessage("nested elements are not allowed")
    if not data.get("FromUserName") or not data.get("MsgType"):
        raise MalformedMessage("FromUserName and MsgType are required")
    try:
        create_time = int(data.get("CreateTime") or 0)
    except ValueError:
        raise MalformedMessage("CreateTime is not a number") from None
    raw_type = data["MsgType"].lower()
    kind = _KINDS.get(raw_type, Kind.UNSUPPORTED)
    return Inbound(
        channel="mp",
        sender=data["FromUserName"],
        recipient=data.get("ToUserName") or "",
        kind=kind,
        create_time=create_time,
        msg_id=data.get("MsgId") or data.get("MsgID") or "",
        text=(data.get("Content") or data.get("Recognition") or "").strip(),
        media_id=data.get("MediaId") or "",
        media_url=data.get("PicUrl") or "",
        event=(getattr(msg, "event", "") or data.get("Event") or "").lower() if kind is Kind.EVENT else "",
        event_key=(data.get("EventKey") or "") if kind is Kind.EVENT else "",
        label=data.get("Label") or "",
        raw_type=raw_type,
    )


def _field(xml: str, name: str) -> str:
    try:
        root = xmltodict.parse(xml, disable_entities=True)
        value = root["xml"][name]
    except (ExpatError, ValueError, KeyError, TypeError):
        raise MalformedMessage(f"{name} missing or body is not XML") from None
    if not isinstance(value, str) or not value:
        raise MalformedMessage(f"{name} missing")
    return value


def _text(body: bytes | str) -> str:
    if isinstance(body, str):
        return body
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedMessage("body is not UTF-8") from None


class SimulatedWechat:
    """Talk to a wuye server exactly as WeChat would (for `wuye say` and `wuye chat`)."""

    def __init__(self, config: WechatConfig, account: str = "gh_wuye_cli") -> None:
        self.config = config
        self.account = account
        self.crypto = WeChatCrypto(config.token, config.encoding_aes_key, config.appid) if config.safe_mode else None

    def request(self, text: str, openid: str, msg_id: str, now: int) -> tuple[dict[str, str], str]:
        """Query parameters and body of a text message from openid."""
        xml = TextReply(source=openid, target=self.account, content=text, time=now).render()
        xml = xml.replace("</xml>", f"<MsgId>{msg_id}</MsgId>\n</xml>")
        timestamp, nonce = str(now), secrets.token_hex(5)
        params = {"timestamp": timestamp, "nonce": nonce, "signature": sign(self.config.token, timestamp, nonce),
                  "openid": openid}
        if self.crypto is None:
            return params, xml
        encrypted = self.crypto.encrypt_message(xml, nonce, timestamp)
        encrypt = xmltodict.parse(encrypted)["xml"]["Encrypt"]
        body = f"<xml><ToUserName><![CDATA[{self.account}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        params.update(encrypt_type="aes", msg_signature=sign(self.config.token, timestamp, nonce, encrypt))
        return params, body

    def read_reply(self, body: str) -> str:
        """The text of the server's passive reply ('' for an empty or 'success' answer)."""
        if not body.strip() or body.strip() == "success":
            return ""
        if self.crypto is not None:
            d = xmltodict.parse(body)["xml"]
            body = self.crypto.decrypt_message(body, d["MsgSignature"], d["TimeStamp"], d["Nonce"])
        return xmltodict.parse(body)["xml"].get("Content") or ""
