"""Every user-facing Chinese string, in one place."""
from __future__ import annotations

from bot.config import SlaLevel

STATUS_LABELS = {
    "new": "待接单",
    "claimed": "处理中",
    "pending": "挂起",
    "resolved": "已完成",
    "closed": "已关闭",
    "cancelled": "已取消",
}

HELP = (
    "您好，这里是{name}报修投诉服务。\n"
    "【报修/投诉】直接发送问题和位置，例如：\n"
    "  3栋2单元1201 楼上漏水到我家天花板\n"
    "【补充证据】提交后可直接发送照片或语音，会附到您最新的工单。\n"
    "【查询】发送“查询”或“我的工单”查看全部工单；“查询 12”查看12号工单。\n"
    "【取消】发送“取消 12”取消12号工单。\n"
    "【帮助】发送“帮助”查看本说明。"
)
WELCOME = "感谢关注{name}！\n" + HELP.split("\n", 1)[1]
REPORT_GUIDE = "请直接描述您遇到的问题，并注明楼栋、单元和房号，例如：5栋1单元 电梯坏了。可附照片。"
ASK_LOCATION = "收到：{summary}\n请告诉我们具体位置（楼栋/单元/房号），例如：5栋1单元1201。"
ASK_LOCATION_AGAIN = "没能识别位置，请按“几栋几单元几号”回复，例如：5栋1单元1201；发送“取消”放弃本次报修。"
UNKNOWN_BUILDING = "本小区没有“{building}”，请核对楼栋号后重新发送，例如：5栋1单元1201。"
DRAFT_CANCELLED = "好的，本次报修已取消。如需帮助请发送“帮助”。"
EVIDENCE_HINT = "如方便，请发送现场照片或语音，便于我们尽快处理。"
PHONE_HINT = "如需电话联系，请回复您的手机号。"

TICKET_CREATED = (
    "已为您登记工单 #{number}\n"
    "类别：{category}　紧急程度：{urgency}\n"
    "位置：{location}\n"
    "{promise}"
)
PROMISE_URGENT = "我们将在{claim}分钟内响应，{arrive}分钟内到场处理，当天处理完毕。"
PROMISE_URGENT_NO_ARRIVE = "我们将在{claim}分钟内响应，当天处理完毕。"
PROMISE_CLAIM_HOURS = "已转{department}，{claim}内安排专人处理，{resolve}内解决。"
PROMISE_SAME_DAY = "已转{department}，当天安排处理，{resolve}内处理完毕。"
RESOLVE_SAME_DAY = "当天"
RESOLVE_HOURS = "{n}小时"
RESOLVE_WORKING_DAYS = "{n}个工作日"
MINUTES = "{n}分钟"
HOURS = "{n}小时"
SAFETY_TIP = {
    "燃气": "请勿开关电器、勿用明火，立即开窗通风并离开现场！",
    "火": "如有明火请立即拨打119并迅速撤离！",
    "被困": "被困人员请保持冷静，不要扒门，按电梯内警铃等待救援。",
    "漏电": "请勿触碰带电设备，如能安全操作请先断开总闸。",
}

LIST_HEADER = "您的工单（最近{n}条）："
LIST_LINE = "#{number} {category}｜{status}｜{owner}｜{created}"
LIST_EMPTY = "您目前没有工单。直接发送问题描述即可报修。"
OWNER_NONE = "待接单"
OWNER_IS = "负责人：{owner}"
DETAIL = (
    "工单 #{number}\n"
    "状态：{status}\n"
    "类别：{category}　紧急程度：{urgency}\n"
    "位置：{location}\n"
    "内容：{text}\n"
    "{owner}\n"
    "登记时间：{created}"
)
NOT_YOURS = "没有找到您的工单 #{number}，请发送“查询”查看您的工单。"
NEED_NUMBER = "请带上工单号，例如：取消 12"
CANCELLED = "工单 #{number} 已取消。如问题仍在，请重新描述。"
CANNOT_CANCEL = "工单 #{number} 当前状态为“{status}”，无法取消。"
FOLLOWUP_ADDED = "已将您的补充转告工单 #{number} 的负责人（第{count}次催办），我们会尽快处理。"
FOLLOWUP_ADDED_NEW = "已将您的补充记入工单 #{number}，接单人员会第一时间看到。"
ATTACHED = "已将{kind}附到工单 #{number}，谢谢。"
ATTACH_NO_TICKET = "已收到{kind}。请用文字描述问题和位置，我们会为您登记工单。"
MEDIA_KINDS = {"image": "照片", "voice": "语音"}
UNSUPPORTED = "暂不支持此类消息，请用文字描述问题，或发送照片、语音。"
LOCATION_MSG = "收到您的定位（{label}）。请再用文字说明楼栋/单元/房号，例如：5栋1单元1201。"
EMPTY_TEXT = "请用文字描述您遇到的问题。"
APOLOGY = "抱歉，系统繁忙，您的消息可能未能处理，请稍后重试。紧急情况请直接拨打物业电话。"
APOLOGY_WITH_HOTLINE = "抱歉，系统繁忙，您的消息可能未能处理，请稍后重试。紧急情况请拨打{hotline}。"
LOCATION_UNKNOWN = "未填写"

GROUP_NEW_TICKET = (
    "【新工单 #{number}】{urgency}·{category}\n"
    "位置：{location}\n"
    "内容：{text}\n"
    "{claim}回复“接单 {number}”认领。"
)
GROUP_CLAIM_WITHIN = "请{n}分钟内"
GROUP_FOLLOWUP = "【催办 #{number}】业主第{count}次催促：{text}"


def promise(urgency: str, sla: SlaLevel, department: str) -> str:
    """The promise that an urgency level carries, from its SLA clock."""
    resolve = _resolve_text(sla)
    if urgency == "紧急":
        if sla.arrive_minutes:
            return PROMISE_URGENT.format(claim=sla.claim_minutes, arrive=sla.arrive_minutes)
        return PROMISE_URGENT_NO_ARRIVE.format(claim=sla.claim_minutes)
    if sla.claim_minutes:
        claim = HOURS.format(n=sla.claim_minutes // 60) if sla.claim_minutes % 60 == 0 else MINUTES.format(
            n=sla.claim_minutes)
        return PROMISE_CLAIM_HOURS.format(department=department, claim=claim, resolve=resolve)
    return PROMISE_SAME_DAY.format(department=department, resolve=resolve)


def safety_tip(text: str) -> str:
    """A safety instruction for dangerous situations, or ''."""
    for word, tip in SAFETY_TIP.items():
        if word in text:
            return tip
    return ""


def _resolve_text(sla: SlaLevel) -> str:
    if sla.resolve_hours:
        return RESOLVE_HOURS.format(n=sla.resolve_hours)
    if sla.resolve_working_days:
        return RESOLVE_WORKING_DAYS.format(n=sla.resolve_working_days)
    return RESOLVE_SAME_DAY
