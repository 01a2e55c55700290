"""/wechat: URL verification, plain/compatible/safe modes, de-duplication, bad input."""
from __future__ import annotations

import threading

import pytest
import requests

import wxproto
from conftest import ACCOUNT, AES_KEY, APPID, TOKEN

COMPLAINT = "3栋2单元1201 楼上卫生间漏水，水一直往下滴"


def _text_xml(live, text: str, openid: str = "o-resident-1", msg_id: str = "9001") -> str:
    return wxproto.build_plain_text_message(ACCOUNT, openid, text, msg_id, int(live.clock.now().timestamp()))


# --- URL verification -------------------------------------------------------------

def test_get_echoes_echostr_when_signed(live):
    ts = str(int(live.clock.now().timestamp()))
    params = {**wxproto.plain_post_params(TOKEN, ts, "abc"), "echostr": "hello-123"}
    resp = requests.get(f"{live.url}/wechat", params=params, timeout=5)
    assert resp.status_code == 200
    assert resp.text == "hello-123"


def test_get_with_bad_signature_is_403(live):
    ts = str(int(live.clock.now().timestamp()))
    params = {"signature": "0" * 40, "timestamp": ts, "nonce": "abc", "echostr": "hello"}
    resp = requests.get(f"{live.url}/wechat", params=params, timeout=5)
    assert resp.status_code == 403
    assert "hello" not in resp.text


def test_get_without_echostr_is_400(live):
    ts = str(int(live.clock.now().timestamp()))
    resp = requests.get(f"{live.url}/wechat", params=wxproto.plain_post_params(TOKEN, ts, "abc"), timeout=5)
    assert resp.status_code == 400


# --- modes: a second implementation (tests/wxproto.py, not wechatpy) talks to us ---

def test_safe_mode_round_trip_with_independent_client(live):
    params, body = live.request_for(_text_xml(live, COMPLAINT))
    resp = live.post(params, body)
    assert resp.status_code == 200
    inner = wxproto.parse_encrypted_reply(resp.text, TOKEN, AES_KEY, APPID)  # verifies MsgSignature
    assert "<ToUserName><![CDATA[o-resident-1]]></ToUserName>" in inner
    assert "已为您登记工单 #1" in inner
    assert live.storage.tickets.count() == 1


def test_compatible_mode_body_is_accepted(live):
    xml = _text_xml(live, COMPLAINT)
    ts = str(int(live.clock.now().timestamp()))
    params, body = wxproto.build_encrypted_post(xml, TOKEN, AES_KEY, APPID, ts, "cmpnonce", compatible=True)
    assert "<Content>" in body  # plain fields ride along in compatible mode
    reply = live.read(live.post(params, body))
    assert "工单 #1" in reply


def test_compatible_mode_trusts_only_the_encrypted_part(live):
    """The plain fields of a compatible-mode body are not signed: a forged copy is ignored."""
    xml = _text_xml(live, COMPLAINT, openid="o-real")
    ts = str(int(live.clock.now().timestamp()))
    params, body = wxproto.build_encrypted_post(xml, TOKEN, AES_KEY, APPID, ts, "n", compatible=True)
    forged = body.replace("o-real", "o-forged", 1)
    live.read(live.post(params, forged))
    ticket = live.storage.tickets.get(1)
    assert live.storage.residents.get(ticket.resident_id).openid == "o-real"


def test_plain_mode_round_trip(serve, make_config):
    live = serve(make_config(mode="plain"))
    resp = live.post(*live.request_for(_text_xml(live, COMPLAINT)))
    assert resp.status_code == 200
    assert "<Encrypt>" not in resp.text
    assert "已为您登记工单 #1" in resp.text


def test_plain_request_refused_when_account_is_in_safe_mode(live):
    ts = str(int(live.clock.now().timestamp()))
    resp = live.post(wxproto.plain_post_params(TOKEN, ts, "n"), _text_xml(live, COMPLAINT))
    assert resp.status_code == 403
    assert live.storage.tickets.count() == 0


def test_tencent_published_sample_is_accepted_and_answered(serve, make_config):
    """WXBizMsgCrypt's Python sample (Tencent; mirrored in charlesXu86/Chatbot_CN
    Chatbot_Web/impl/weixin/Sample.py @ 7e1cd5c2): token spamtest, compatible-mode body."""
    config = make_config(wechat={"token": "spamtest", "appid": "wx2c2769f8efd9abc2",
                                 "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
                                 "max_clock_skew_seconds": 0})
    live = serve(config)
    encrypt = ("hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQ"
               "HFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYs"
               "VticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0Vx"
               "pAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCu"
               "mEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=")
    body = ("<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gf"
            "YjqLzSIWZf0rs]]></FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgTy"
            f"pe><Content><![CDATA[abcdteT]]></Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[{encrypt}"
            "]]></Encrypt></xml>")
    params = {"timestamp": "1409735669", "nonce": "1320562132", "encrypt_type": "aes",
              "msg_signature": "5d197aaffba7e9b25a30732f161a50dee96bd5fa"}
    resp = live.post(params, body)
    assert resp.status_code == 200
    inner = wxproto.parse_encrypted_reply(resp.text, "spamtest", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
                                          "wx2c2769f8efd9abc2")
    assert "oyORnuP8q7ou2gfYjqLzSIWZf0rs" in inner
    assert "<Content><![CDATA[" in inner


# --- retries ---------------------------------------------------------------------

def test_same_msgid_three_times_makes_one_ticket_and_same_answer(live):
    xml = _text_xml(live, COMPLAINT, msg_id="5555")
    replies = [live.read(live.post(*live.request_for(xml, nonce=f"n{i}"))) for i in range(3)]
    assert live.storage.tickets.count() == 1
    assert replies[0] == replies[1] == replies[2]
    assert "工单 #1" in replies[0]


def test_concurrent_retries_make_one_ticket(live):
    xml = _text_xml(live, COMPLAINT, msg_id="6666")
    results: list[str] = []

    def post(i: int) -> None:
        results.append(live.read(live.post(*live.request_for(xml, nonce=f"c{i}"))))

    threads = [threading.Thread(target=post, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert live.storage.tickets.count() == 1
    assert all(r == results[0] for r in results) and "工单 #1" in results[0]


def test_retry_after_redis_lost_the_key_still_makes_no_second_ticket(live, redis_client):
    xml = _text_xml(live, COMPLAINT, msg_id="7777")
    first = live.read(live.post(*live.request_for(xml)))
    for key in redis_client.scan_iter(f"{live.config.redis_prefix}dedup:*"):
        redis_client.delete(key)
    again = live.read(live.post(*live.request_for(xml)))
    assert live.storage.tickets.count() == 1
    assert "工单 #1" in first and "工单 #1" in again


def test_event_retries_are_keyed_by_sender_and_create_time(live):
    xml = ("<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName><![CDATA[o-new]]></FromUserName>"
           "<CreateTime>1795600000</CreateTime><MsgType><![CDATA[event]]></MsgType>"
           "<Event><![CDATA[subscribe]]></Event></xml>")
    first = live.send_xml(xml)
    second = live.send_xml(xml)
    assert "感谢关注" in first and first == second


# --- bad input: a clear refusal, never a 500, and nothing changes -----------------

def _assert_nothing_changed(live, redis_client) -> None:
    assert live.storage.tickets.count() == 0
    assert live.storage.residents.by_openid("o-resident-1") is None
    assert not list(redis_client.scan_iter(f"{live.config.redis_prefix}conv:*"))


def test_bad_msg_signature_is_403(live, redis_client):
    params, body = live.request_for(_text_xml(live, COMPLAINT))
    params["msg_signature"] = "f" * 40
    resp = live.post(params, body)
    assert resp.status_code == 403
    assert "BadSignature" in resp.text
    _assert_nothing_changed(live, redis_client)


def test_bad_url_signature_is_403_even_with_good_msg_signature(live, redis_client):
    params, body = live.request_for(_text_xml(live, COMPLAINT))
    params["signature"] = "0" * 40
    assert live.post(params, body).status_code == 403
    _assert_nothing_changed(live, redis_client)


def test_missing_signature_is_403(live, redis_client):
    params, body = live.request_for(_text_xml(live, COMPLAINT))
    del params["msg_signature"]
    assert live.post(params, body).status_code == 403
    _assert_nothing_changed(live, redis_client)


def test_other_appid_is_403(live, redis_client):
    xml = _text_xml(live, COMPLAINT)
    ts = str(int(live.clock.now().timestamp()))
    params, body = wxproto.build_encrypted_post(xml, TOKEN, AES_KEY, "wxSOMEONEELSE0000", ts, "n")
    assert live.post(params, body).status_code == 403
    _assert_nothing_changed(live, redis_client)


@pytest.mark.parametrize("skew", [-301, 301, 86400 * 365])
def test_stale_timestamp_is_403(live, redis_client, skew):
    ts = str(int(live.clock.now().timestamp()) + skew)
    params, body = live.request_for(_text_xml(live, COMPLAINT), timestamp=ts)
    resp = live.post(params, body)
    assert resp.status_code == 403
    assert "StaleRequest" in resp.text
    _assert_nothing_changed(live, redis_client)


def test_timestamp_within_skew_is_accepted(live):
    ts = str(int(live.clock.now().timestamp()) - 299)
    assert "工单 #1" in live.read(live.post(*live.request_for(_text_xml(live, COMPLAINT), timestamp=ts)))


def test_non_numeric_timestamp_is_403(live, redis_client):
    params, body = live.request_for(_text_xml(live, COMPLAINT), timestamp="yesterday")
    assert live.post(params, body).status_code == 403
    _assert_nothing_changed(live, redis_client)


@pytest.mark.parametrize("xml", [
    "not xml at all",
    "<xml><FromUserName>o-resident-1</FromUserName>",  # truncated
    "<xml><ToUserName>gh</ToUserName></xml>",  # no MsgType / sender
    "<notxml><MsgType>text</MsgType></notxml>",
    "<xml><FromUserName><a>o</a></FromUserName><MsgType>text</MsgType><Content>x</Content></xml>",  # nesting
    "<xml><FromUserName>o-resident-1</FromUserName><MsgType>text</MsgType><CreateTime>soon</CreateTime></xml>",
])
def test_malformed_inner_xml_is_400(live, redis_client, xml):
    resp = live.post(*live.request_for(xml))
    assert resp.status_code == 400
    assert "MalformedMessage" in resp.text
    _assert_nothing_changed(live, redis_client)


def test_entity_declarations_are_refused(live, redis_client):
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
            "<xml><FromUserName>o-resident-1</FromUserName><MsgType>text</MsgType><Content>&lol2;</Content></xml>")
    assert live.post(*live.request_for(bomb)).status_code == 400
    _assert_nothing_changed(live, redis_client)


def test_external_entity_is_refused_in_plain_mode(serve, make_config, redis_client):
    live = serve(make_config(mode="plain"))
    xxe = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
           "<xml><FromUserName>o-resident-1</FromUserName><MsgType>text</MsgType><Content>&e;</Content></xml>")
    resp = live.post(*live.request_for(xxe))
    assert resp.status_code == 400
    assert "root:" not in resp.text
    _assert_nothing_changed(live, redis_client)


def test_entities_in_the_outer_envelope_are_refused(live, redis_client):
    params, body = live.request_for(_text_xml(live, COMPLAINT))
    hostile = '<!DOCTYPE x [<!ENTITY a "b">]>' + body
    assert live.post(params, hostile).status_code == 400
    _assert_nothing_changed(live, redis_client)


def test_garbage_encrypt_is_refused(live, redis_client):
    ts = str(int(live.clock.now().timestamp()))
    encrypt = "bm90IGEgcmVhbCBjaXBoZXJ0ZXh0IGF0IGFsbA=="
    params = {"timestamp": ts, "nonce": "n", "encrypt_type": "aes",
              "msg_signature": wxproto.msg_signature(TOKEN, ts, "n", encrypt),
              "signature": wxproto.url_signature(TOKEN, ts, "n")}
    resp = live.post(params, f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
    assert resp.status_code == 400
    _assert_nothing_changed(live, redis_client)


def test_one_mebibyte_body_is_413(live, redis_client):
    params, _ = live.request_for(_text_xml(live, COMPLAINT))
    resp = live.post(params, b"<xml>" + b"A" * (1024 * 1024) + b"</xml>")
    assert resp.status_code == 413
    assert "Traceback" not in resp.text
    _assert_nothing_changed(live, redis_client)


def test_chunked_oversize_body_is_refused(live, redis_client):
    params, _ = live.request_for(_text_xml(live, COMPLAINT))

    def chunks():
        for _ in range(200):
            yield b"A" * 8192

    resp = requests.post(f"{live.url}/wechat", params=params, data=chunks(), timeout=10)
    assert resp.status_code in (400, 413)
    _assert_nothing_changed(live, redis_client)


def test_non_utf8_body_is_400(serve, make_config, redis_client):
    live = serve(make_config(mode="plain"))
    params, _ = live.request_for("<xml/>")
    assert live.post(params, "<xml><Content>\xff</Content></xml>".encode("latin-1")).status_code == 400
    _assert_nothing_changed(live, redis_client)


def test_unknown_message_type_gets_polite_refusal_and_changes_nothing(live, redis_client):
    xml = ("<xml><ToUserName>gh</ToUserName><FromUserName>o-resident-1</FromUserName><CreateTime>1</CreateTime>"
           "<MsgType>notsure</MsgType><MsgId>42</MsgId></xml>")
    assert "暂不支持" in live.send_xml(xml)
    assert live.storage.tickets.count() == 0


def test_internal_error_gets_apology_not_stack_trace(live):
    live.services.ctx.storage.database.db.execute("DROP TABLE outbox")  # break storage under the handler
    reply = live.say(COMPLAINT)
    assert "抱歉" in reply
    assert "Traceback" not in reply


def test_wrong_method_and_path_are_clear_4xx(live):
    assert requests.put(f"{live.url}/wechat", timeout=5).status_code == 405
    assert requests.get(f"{live.url}/nope", timeout=5).status_code == 404
