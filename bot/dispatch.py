"""The handler table: ONE handler per (conversation state, message kind or command)."""
from __future__ import annotations

import dataclasses
import re

from bot.conversation import Conversation, State
from bot.inbound import Inbound, Kind
from classifier.extract import normalize
from handlers import Context, Handler, Outcome, commands, complaint, events, media

ANY = None  # a table row that holds in every state

# (state, key) -> handler. The key is a message kind, "event:<name>" or "cmd:<name>".
TABLE: dict[tuple[State | None, str], Handler] = {
    (State.IDLE, "text"): complaint.intake,
    (State.AWAIT_LOCATION, "text"): complaint.location_reply,
    (State.AWAIT_LOCATION, "cmd:cancel"): complaint.cancel_draft,
    (ANY, "cmd:help"): commands.help_text,
    (ANY, "cmd:report"): commands.report_guide,
    (ANY, "cmd:list"): commands.list_tickets,
    (ANY, "cmd:show"): commands.show_ticket,
    (ANY, "cmd:cancel"): commands.need_number,
    (ANY, "cmd:cancel_n"): commands.cancel_ticket,
    (ANY, "image"): media.attach,
    (ANY, "voice"): media.voice,
    (ANY, "location"): complaint.location_pin,
    (ANY, "unsupported"): events.unsupported,
    (ANY, "event:subscribe"): events.subscribe,
    (ANY, "event:subscribe_scan"): events.subscribe,
    (ANY, "event:unsubscribe"): events.unsubscribe,
    (ANY, "event:*"): events.ignore,
}

_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
# Forgiving of spaces, punctuation, full-width digits and an optional 工单 / 号 / #.
_COMMANDS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(?:帮助|help|使用说明|说明|怎么用|菜单|\?)$"), "help"),
    (re.compile(r"^(?:我要报修|报修|我要投诉|投诉)$"), "report"),
    (re.compile(r"^(?:查询|查看|查|查询我的工单|我的工单|工单|我的报修|进度|查进度)$"), "list"),
    (re.compile(r"^(?:查询|查看|查|进度)(?:工单)?(\d{1,9})号?(?:工单)?(?:进度)?$"), "show"),
    (re.compile(r"^取消(?:报修|工单)?$"), "cancel"),
    (re.compile(r"^取消(?:工单)?(\d{1,9})号?(?:工单)?$"), "cancel_n"),
]


def parse_command(text: str) -> tuple[str, str] | None:
    """(command, argument) when the text is a resident command, else None."""
    t = normalize(text)
    if t in ("?", "？"):
        return ("help", "")
    t = _PUNCT.sub("", t)
    for pattern, name in _COMMANDS:
        m = pattern.match(t)
        if m:
            return name, (m.group(1) if m.groups() else "")
    return None


def route(msg: Inbound, conv: Conversation, clicks: dict[str, str]) -> tuple[Handler, Inbound]:
    """Pick the one handler for this message in this state (menu clicks act as typed commands)."""
    if msg.kind is Kind.EVENT and msg.event == "click" and msg.event_key in clicks:
        msg = dataclasses.replace(msg, kind=Kind.TEXT, text=clicks[msg.event_key])
    key = msg.kind.value
    if msg.kind is Kind.TEXT:
        cmd = parse_command(msg.text)
        if cmd is not None:
            msg = dataclasses.replace(msg, command=cmd[0], arg=cmd[1])
            key = f"cmd:{cmd[0]}"
    elif msg.kind is Kind.EVENT:
        key = f"event:{msg.event}" if (ANY, f"event:{msg.event}") in TABLE else "event:*"
    handler = TABLE.get((conv.state, key)) or TABLE.get((ANY, key))
    if handler is None:  # a kind with no row for this state: never guess, refuse politely
        handler = events.unsupported
    return handler, msg


def dispatch(msg: Inbound, conv: Conversation, ctx: Context) -> Outcome:
    """Route and run the handler."""
    handler, msg = route(msg, conv, ctx.config.menu_clicks)
    return handler(msg, conv, ctx)
