"""The resident conversation end to end over the webhook: intake, location, commands, media."""
from __future__ import annotations

from conftest import ACCOUNT
from storage import Status


def _media_xml(live, kind: str, openid: str = "o-resident-1", recognition: str = "", msg_id: str = "") -> str:
    ts = int(live.clock.now().timestamp())
    extra = {"image": "<PicUrl><![CDATA[http://mmbiz.example/pic.jpg]]></PicUrl><MediaId><![CDATA[img-1]]></MediaId>",
             "voice": "<MediaId><![CDATA[voice-1]]></MediaId><Format><![CDATA[amr]]></Format>"
                      + (f"<Recognition><![CDATA[{recognition}]]></Recognition>" if recognition else "")}[kind]
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{ts}</CreateTime><MsgType><![CDATA[{kind}]]></MsgType>{extra}"
            f"<MsgId>{msg_id or live.next_msg_id()}</MsgId></xml>")


def _event_xml(live, event: str, key: str = "", openid: str = "o-resident-1") -> str:
    ts = int(live.clock.now().timestamp())
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{ts}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>"
            f"<EventKey><![CDATA[{key}]]></EventKey></xml>")


def test_one_complete_message_makes_a_ticket_at_once(live):
    reply = live.say("3栋1单元1202 楼上漏水到我家天花板")  # SPEC §4's example
    assert "已为您登记工单 #1" in reply
    assert "漏水" in reply and "紧急" in reply
    assert "5分钟内响应" in reply and "15分钟内到场" in reply
    t = live.storage.tickets.get(1)
    assert (t.building, t.unit, t.room) == ("3", "1", "1202")
    assert (t.category, t.urgency, t.status) == ("漏水", "紧急", Status.NEW)
    assert t.claim_due == "2026-11-26T02:05:00+00:00" and t.arrive_due == "2026-11-26T02:15:00+00:00"


def test_two_turn_intake_asks_where_then_files_the_ticket(live, redis_client):
    first = live.say("电梯坏了，有人被困")
    assert "位置" in first and "工单" not in first
    assert live.storage.tickets.count() == 0
    second = live.say("5栋1单元")
    assert "工单 #1" in second
    t = live.storage.tickets.get(1)
    assert (t.building, t.unit, t.category, t.urgency) == ("5", "1", "电梯", "紧急")
    assert t.text == "电梯坏了，有人被困"
    assert not list(redis_client.scan_iter(f"{live.config.redis_prefix}conv:*"))  # back to IDLE


def test_location_is_remembered_and_never_asked_again(live):
    live.say("3-2-1201 卫生间漏水")
    reply = live.say("楼道灯不亮了")
    assert "工单 #2" in reply and "位置" in reply
    t = live.storage.tickets.get(2)
    assert (t.building, t.unit, t.room) == ("3", "2", "1201")


def test_full_width_digits_and_alternate_building_words(live):
    live.say("１２号楼３单元５０２ 半夜装修电钻声太吵")
    t = live.storage.tickets.get(1)
    assert (t.building, t.unit, t.room) == ("12", "3", "502")


def test_more_description_while_waiting_for_location_is_kept(live):
    live.say("家里停水了")
    assert "位置" in live.say("一早上都没水，急着做饭")
    live.say("8栋2单元301")
    t = live.storage.tickets.get(1)
    assert "一早上都没水" in t.text and t.building == "8"


def test_cancel_while_waiting_for_location_drops_the_draft(live):
    live.say("楼下狗一直叫")
    assert "已取消" in live.say("取消")
    assert "没有识别" not in live.say("帮助")
    live.say("5栋1单元")  # now a bare location, not a pending draft: no ticket from the old draft
    assert all(t.text != "楼下狗一直叫" for t in live.storage.tickets.find())


def test_unknown_building_is_refused_when_buildings_are_configured(serve, make_config):
    live = serve(make_config(property={"name": "x", "buildings": ["1", "2", "3"]}))
    assert "没有" in live.say("9栋1单元 路灯坏了")
    assert live.storage.tickets.count() == 0
    assert "工单 #1" in live.say("2栋1单元")


def test_query_lists_tickets_with_status_and_owner(live):
    live.say("3栋1单元1202 楼上漏水")
    live.say("3栋1单元1202 垃圾桶满了没人收")
    reply = live.say("查询")
    assert "#1" in reply and "#2" in reply and "待接单" in reply
    assert live.say("我的工单") == reply
    assert live.say("查詢") == reply  # traditional script


def test_query_one_ticket_forgiving_spaces_and_full_width(live):
    live.say("3栋1单元1202 楼上漏水")
    reply = live.say("查询 １")
    assert "工单 #1" in reply and "状态：待接单" in reply and "3栋1单元1202" in reply


def test_query_someone_elses_ticket_is_refused(live):
    live.say("3栋1单元1202 楼上漏水", openid="o-a")
    reply = live.say("查询1", openid="o-b")
    assert "没有找到" in reply and "漏水" not in reply


def test_cancel_own_open_ticket(live):
    live.say("3栋1单元1202 楼道灯坏了")
    assert "已取消" in live.say("取消 1")
    t = live.storage.tickets.get(1)
    assert t.status is Status.CANCELLED
    assert [e.kind for e in live.storage.tickets.events(1)] == ["created", "cancelled"]
    assert "无法取消" in live.say("取消1")


def test_cancel_someone_elses_ticket_changes_nothing(live):
    live.say("3栋1单元1202 楼道灯坏了", openid="o-a")
    assert "没有找到" in live.say("取消 1", openid="o-b")
    assert live.storage.tickets.get(1).status is Status.NEW


def test_cancel_without_number_and_nothing_pending_asks_for_number(live):
    assert "取消 12" in live.say("取消")


def test_help(live):
    reply = live.say("帮助")
    assert "测试物业" in reply and "查询" in reply and "取消" in reply


def test_followup_on_open_ticket_is_added_and_counted(live):
    live.say("3栋1单元1202 楼上漏水")
    reply = live.say("怎么还没人来")
    assert "#1" in reply
    assert live.storage.tickets.count() == 1
    t = live.storage.tickets.get(1)
    assert t.urge_count == 1
    assert [e.kind for e in live.storage.tickets.events(1)][-1] == "followup"
    owed = live.storage.outbox.for_ticket(1)
    assert [r.kind for r in owed] == ["new_ticket", "followup"]
    assert owed[1].payload["text"] == "怎么还没人来"


def test_new_problem_with_open_ticket_makes_a_new_ticket(live):
    live.say("3栋1单元1202 楼上漏水")
    assert "工单 #2" in live.say("楼下广场舞太吵了")


def test_image_attaches_to_newest_open_ticket(live):
    live.say("3栋1单元1202 楼上漏水")
    reply = live.send_xml(_media_xml(live, "image"))
    assert "照片" in reply and "#1" in reply
    att = live.storage.tickets.attachments(1)
    assert [(a["kind"], a["media_id"]) for a in att] == [("image", "img-1")]


def test_image_without_ticket_asks_for_description(live):
    assert "文字描述" in live.send_xml(_media_xml(live, "image"))
    assert live.storage.tickets.count() == 0


def test_image_while_waiting_for_location_is_kept_for_the_ticket(live):
    live.say("楼道里堆满了纸箱")
    live.send_xml(_media_xml(live, "image"))
    live.say("6栋2单元")
    assert [a["kind"] for a in live.storage.tickets.attachments(1)] == ["image"]


def test_voice_recognition_is_read_as_text_and_kept_as_evidence(live):
    reply = live.send_xml(_media_xml(live, "voice", recognition="7栋1单元电梯卡住了，有人被困在里面"))
    assert "工单 #1" in reply
    t = live.storage.tickets.get(1)
    assert (t.category, t.urgency, t.building) == ("电梯", "紧急", "7")
    att = live.storage.tickets.attachments(1)
    assert att[0]["kind"] == "voice" and att[0]["recognition"].startswith("7栋1单元")


def test_voice_without_recognition_attaches(live):
    live.say("3栋1单元1202 楼上漏水")
    assert "语音" in live.send_xml(_media_xml(live, "voice"))
    assert live.storage.tickets.attachments(1)[0]["kind"] == "voice"


def test_retried_image_attaches_once(live):
    live.say("3栋1单元1202 楼上漏水")
    xml = _media_xml(live, "image", msg_id="888")
    live.send_xml(xml)
    live.send_xml(xml)
    assert len(live.storage.tickets.attachments(1)) == 1


def test_subscribe_welcomes_with_how_to_use(live):
    reply = live.send_xml(_event_xml(live, "subscribe"))
    assert "感谢关注测试物业" in reply and "查询" in reply
    assert live.storage.residents.by_openid("o-resident-1") is not None


def test_two_clicks_in_one_second_are_not_taken_for_a_retry(live):
    first = live.send_xml(_event_xml(live, "CLICK", "HELP"))
    second = live.send_xml(_event_xml(live, "CLICK", "MY_TICKETS"))
    assert first != second and "查询" in first


def test_menu_click_keys_are_configurable(serve, make_config):
    live = serve(make_config(menu={"clicks": {"V_MINE": "我的工单", "V_HELP": "帮助"}}))
    live.say("3栋1单元1202 楼上漏水")
    assert "#1" in live.send_xml(_event_xml(live, "CLICK", "V_MINE"))
    live.clock.advance(seconds=1)
    assert "查询" in live.send_xml(_event_xml(live, "CLICK", "V_HELP"))
    live.clock.advance(seconds=1)
    assert live.send_xml(_event_xml(live, "CLICK", "UNKNOWN_KEY")) == ""


def test_unsubscribe_and_other_events_need_no_reply(live):
    assert live.send_xml(_event_xml(live, "unsubscribe")) == ""
    assert live.send_xml(_event_xml(live, "VIEW", "http://x")) == ""
    assert live.storage.tickets.count() == 0


def test_location_pin_asks_for_building_in_words(live):
    ts = int(live.clock.now().timestamp())
    xml = (f"<xml><ToUserName>gh</ToUserName><FromUserName>o-resident-1</FromUserName><CreateTime>{ts}</CreateTime>"
           "<MsgType>location</MsgType><Location_X>23.1</Location_X><Location_Y>113.3</Location_Y><Scale>20</Scale>"
           "<Label><![CDATA[幸福小区]]></Label><MsgId>991</MsgId></xml>")
    reply = live.send_xml(xml)
    assert "幸福小区" in reply and "楼栋" in reply


def test_ticket_and_owed_notice_are_written_together(live):
    live.say("3栋1单元1202 楼上水管爆了")
    owed = live.storage.outbox.for_ticket(1)
    assert len(owed) == 1 and owed[0].channel == "group" and owed[0].target == "3"
    assert owed[0].payload["ticket"] == 1 and owed[0].payload["urgency"] == "紧急"


def test_events_record_who_and_what(live):
    live.say("3栋1单元1202 楼上漏水", openid="o-x")
    ev = live.storage.tickets.events(1)[0]
    assert ev.actor == "o-x" and ev.kind == "created"
    assert ev.data["category"] == "漏水" and ev.data["location"] == ["3", "1", "1202"]


def test_conversation_survives_redis_outage(serve, make_config):
    """Redis down: no dedup, no state, but the complaint is still recorded."""
    config = make_config(redis={"url": "redis://127.0.0.1:1/0"})
    live = serve(config)
    reply = live.say("3栋1单元1202 楼上漏水")
    assert "工单 #1" in reply
    assert live.storage.tickets.count() == 1
    assert live.storage.outbox.for_ticket(1)[0].status == "pending"  # delivered when Redis is back
