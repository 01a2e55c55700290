"""Check the test-only WXBizMsgCrypt implementation (tests/wxproto.py) against published vectors.

All values below are literals copied from public sources; each block cites its source
repository and path. Nothing is read from disk at test time.
"""

import base64
import xml.etree.ElementTree as ET

import pytest

import wxproto as wx

# --- Tencent's official WXBizMsgCrypt Python sample (Author: jonyqin) -------------------
# Source: charlesXu86/Chatbot_CN (mirror of Tencent WXBizMsgCrypt Python sample),
#   Chatbot_Web/impl/weixin/Sample.py @ 7e1cd5c26b67e8679160d65faa35792b9bcf76f6
TX_TOKEN = "spamtest"
TX_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TX_APPID = "wx2c2769f8efd9abc2"
TX_TIMESTAMP = "1409735669"
TX_NONCE = "1320562132"
TX_MSG_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
TX_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9"
    "FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3y"
    "t+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v"
    "6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)
TX_PLAIN = (
    "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n"
    "<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n"
    "<CreateTime>1409735668</CreateTime>\n"
    "<MsgType><![CDATA[text]]></MsgType>\n"
    "<Content><![CDATA[abcdteT]]></Content>\n"
    "<MsgId>6054768590064713728</MsgId>\n"
    "</xml>"
)
# The sample's POST body is compatibility-mode style: plain fields plus <Encrypt>.
TX_POST_BODY = (
    "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]>"
    "</FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]>"
    "</Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[" + TX_ENCRYPT + "]]></Encrypt></xml>"
)

# --- Tencent Java sample values, as asserted in WxCryptUtilTest (afterAesEncrypt) ----------
# Source: chanjarster/weixin-java-tools,
#   weixin-java-common/src/test/java/me/chanjar/weixin/common/util/crypto/WxCryptUtilTest.java
#   @ 516c1cc80a23e8188c9b231f3f4ea55c40e9e947
JAVA_TOKEN = "pamtest"
JAVA_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
JAVA_APPID = "wxb11529c136998cb6"
JAVA_TIMESTAMP = "1409304348"
JAVA_NONCE = "xxxxxx"
JAVA_RANDOM16 = b"aaaabbbbccccdddd"
JAVA_PLAIN = "我是中文abcd123"
JAVA_ENCRYPT = "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
# Not in the source (it only asserts the ciphertext): computed by the vectors' compiler
# as sha1(sorted([token, timestamp, nonce, encrypt])) and cross-checked with wechatpy.
JAVA_MSG_SIGNATURE = "82c962d39941aa48552f90ef55aa323dc620cc10"

# --- WeCom official sample (same WXBizMsgCrypt algorithm; appid is the corp id) -----------
# Source: sbzhu/weworkapi_python, callback/Sample.py @ 27220fbe9d5251d46101e33751568eae9f413666
# Its plaintext ends in a 22-byte pad, impossible with 16-byte PKCS#7: proves the 32-byte block.
WECOM_AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
WECOM_APPID = "ww1436e0e65a779aee"
WECOM_ENCRYPT = (
    "Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBhzTtRLNshw2AEew"
    "+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24Yhm"
    "ZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwo"
    "cugux082f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+"
)
WECOM_PLAIN = (
    "<xml><ToUserName>ww1436e0e65a779aee</ToUserName><FromUserName>ChenJiaShun</FromUserName>"
    "<CreateTime>1476422779</CreateTime><MsgType>text</MsgType><Content>你好</Content>"
    "<MsgId>1456453720</MsgId><AgentID>1000002</AgentID></xml>"
)

# --- wechatpy's passive-reply vector (safe-mode reply XML, random16 "1234567890123456") ----
# Source: wechatpy/wechatpy, tests/test_crypto.py @ v1.8.18 (8270c1ffa259eef6dac85178714b7c5b0d2211a6)
WP_TOKEN = "123456"
WP_AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
WP_APPID = "wx49f0ab532d5d035a"
WP_ENCRYPT = (
    "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtOb"
    "vesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8"
    "NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O"
    "5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
)
WP_PLAIN = (
    "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n"
    "<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n"
    "<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>"
)
WP_REPLY_XML = (
    "<xml>\n<Encrypt><![CDATA[" + WP_ENCRYPT + "]]></Encrypt>\n"
    "<MsgSignature><![CDATA[407518b7649e86ef23978113f92d27afa9296533]]></MsgSignature>\n"
    "<TimeStamp>1411525903</TimeStamp>\n<Nonce><![CDATA[461056294]]></Nonce>\n</xml>"
)


def test_tencent_sample_signature_and_decrypt():
    encrypt = ET.fromstring(TX_POST_BODY).findtext("Encrypt")
    assert encrypt == TX_ENCRYPT
    # Compatibility-mode body, but msg_signature covers only token, timestamp, nonce, Encrypt.
    assert wx.msg_signature(TX_TOKEN, TX_TIMESTAMP, TX_NONCE, encrypt) == TX_MSG_SIGNATURE
    assert wx.decrypt(encrypt, TX_AES_KEY, TX_APPID) == TX_PLAIN


def test_tencent_sample_reencrypts_byte_for_byte():
    random16, msg, appid = wx.decrypt_raw(TX_ENCRYPT, TX_AES_KEY)
    assert (msg.decode(), appid.decode()) == (TX_PLAIN, TX_APPID)
    assert wx.encrypt(TX_PLAIN, TX_AES_KEY, TX_APPID, random16=random16) == TX_ENCRYPT


def test_java_sample_deterministic_encrypt_chinese():
    encrypt = wx.encrypt(JAVA_PLAIN, JAVA_AES_KEY, JAVA_APPID, random16=JAVA_RANDOM16)
    assert encrypt == JAVA_ENCRYPT
    assert wx.msg_signature(JAVA_TOKEN, JAVA_TIMESTAMP, JAVA_NONCE, encrypt) == JAVA_MSG_SIGNATURE
    assert wx.decrypt(JAVA_ENCRYPT, JAVA_AES_KEY, JAVA_APPID) == JAVA_PLAIN


def test_wecom_sample_uses_32_byte_padding():
    assert wx.decrypt(WECOM_ENCRYPT, WECOM_AES_KEY, WECOM_APPID) == WECOM_PLAIN
    random16, _, _ = wx.decrypt_raw(WECOM_ENCRYPT, WECOM_AES_KEY)
    assert wx.encrypt(WECOM_PLAIN, WECOM_AES_KEY, WECOM_APPID, random16=random16) == WECOM_ENCRYPT


def test_wechatpy_reply_vector():
    assert wx.parse_encrypted_reply(WP_REPLY_XML, WP_TOKEN, WP_AES_KEY, WP_APPID) == WP_PLAIN
    assert wx.encrypt(WP_PLAIN, WP_AES_KEY, WP_APPID, random16=b"1234567890123456") == WP_ENCRYPT


def test_url_signature_vector():
    # Source: wechatpy/wechatpy, tests/test_utils.py @ v1.8.18 (8270c1ffa259eef6dac85178714b7c5b0d2211a6)
    assert wx.url_signature("test", "1410685589", "test") == "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"
    params = wx.plain_post_params("test", "1410685589", "test")
    assert params == {"signature": "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff", "timestamp": "1410685589", "nonce": "test"}


@pytest.mark.parametrize("text", ["你好，世界！", "我是中文abcd123", "emoji 🎉 and ]]> inside", "x" * 1000])
def test_round_trip_chinese(text):
    plain = wx.build_plain_text_message("gh_test", "o_user", text, 1234567890123456, 1700000000)
    assert ET.fromstring(plain).findtext("Content") == text
    encrypt = wx.encrypt(plain, TX_AES_KEY, TX_APPID)
    assert len(base64.b64decode(encrypt)) % 32 == 0
    assert wx.decrypt(encrypt, TX_AES_KEY, TX_APPID) == plain


@pytest.mark.parametrize("compatible", [False, True])
def test_build_encrypted_post(compatible):
    plain = wx.build_plain_text_message("gh_test", "o_user", "早上好", 42, 1700000000)
    params, body = wx.build_encrypted_post(plain, TX_TOKEN, TX_AES_KEY, TX_APPID, "1700000001", "nonce1", compatible)
    root = ET.fromstring(body)
    encrypt = root.findtext("Encrypt")
    assert params["signature"] == wx.url_signature(TX_TOKEN, "1700000001", "nonce1")
    assert params["encrypt_type"] == "aes"
    assert params["msg_signature"] == wx.msg_signature(TX_TOKEN, "1700000001", "nonce1", encrypt)
    assert wx.decrypt(encrypt, TX_AES_KEY, TX_APPID) == plain
    assert root.findtext("ToUserName") == "gh_test"
    assert (root.findtext("Content") == "早上好") is compatible


def test_wrong_appid_raises():
    with pytest.raises(ValueError, match="appid"):
        wx.decrypt(TX_ENCRYPT, TX_AES_KEY, "wx0000000000000000")


def test_tampered_reply_signature_raises():
    bad = WP_REPLY_XML.replace("407518b7649e86ef23978113f92d27afa9296533", "407518b7649e86ef23978113f92d27afa9296534")
    with pytest.raises(ValueError, match="MsgSignature"):
        wx.parse_encrypted_reply(bad, WP_TOKEN, WP_AES_KEY, WP_APPID)
    with pytest.raises(ValueError):  # right signature, wrong token
        wx.parse_encrypted_reply(WP_REPLY_XML, "654321", WP_AES_KEY, WP_APPID)


def test_published_bad_signature_vector_is_rejected():
    # Comment-block example in workweixin/weworkapi_golang, json_callback/sample.go
    # @ c1fdfd3d6e7db7addac8b9c51869918fd9fe7de6; its signature does not match its ciphertext.
    encrypt = (
        "CZWs4CWRpI4VolQlvn4dlPBlXke6+HgmuI7p0LueFp1fKH40TNL+YHWJZwqIiYV+3kTrhdNU7fZwc+PmtgBvxSczkFeRz+oaVSsomrrtP2Z9"
        "1LE313djjbWujqInRT+7ChGbCeo7ZzszByf8xnDSunPBxRX1MfX3kAxpKq7dqduW1kpMAx8O8xUzZ9oC0TLuZchbpxaml4epzGfF21O+zyXD"
        "wTxbCEiO0E87mChtzuh/VPlznXYbfqVrnyLNZ5pr"
    )
    reply = (
        f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt><MsgSignature>477715d11cdb4164915debcba66cb864d751f3e6"
        "</MsgSignature><TimeStamp>1409659813</TimeStamp><Nonce>1372623149</Nonce></xml>"
    )
    with pytest.raises(ValueError, match="MsgSignature"):
        wx.parse_encrypted_reply(reply, "QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7")


def test_tampered_ciphertext_raises():
    blob = bytearray(base64.b64decode(TX_ENCRYPT))
    blob[0] ^= 0x80  # flips the top bit of the length field in the next block
    with pytest.raises(ValueError):
        wx.decrypt(base64.b64encode(bytes(blob)).decode(), TX_AES_KEY, TX_APPID)
