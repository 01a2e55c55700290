"""Photos and voice notes attach to the resident's newest open ticket as evidence."""
from __future__ import annotations

from bot import replies
from bot.conversation import Conversation, State
from bot.inbound import Inbound
from handlers import Context, Outcome, complaint


def attach(msg: Inbound, conv: Conversation, ctx: Context) -> Outcome:
    """Image (or voice without recognition): keep it with the draft or the newest open ticket."""
    kind = replies.MEDIA_KINDS.get(msg.kind.value, msg.kind.value)
    media = {"kind": msg.kind.value, "media_id": msg.media_id, "url": msg.media_url,
             "recognition": msg.text, "source_msg_id": msg.dedup_key}
    if conv.state is State.AWAIT_LOCATION:
        draft = {**conv.draft, "media": [*conv.draft.get("media", []), media]}
        return Outcome(replies.ASK_LOCATION_AGAIN, State.AWAIT_LOCATION, draft)
    resident = ctx.storage.residents.ensure_openid(msg.sender, ctx.stamp())
    ticket = ctx.storage.tickets.newest_open(resident.id)
    if ticket is None:
        return Outcome(replies.ATTACH_NO_TICKET.format(kind=kind))
    ctx.storage.tickets.attach(ticket.number, msg.sender, ctx.stamp(), **media)
    return Outcome(replies.ATTACHED.format(kind=kind, number=ticket.number), ticket=ticket.number)


def voice(msg: Inbound, conv: Conversation, ctx: Context) -> Outcome:
    """Voice: WeChat's Recognition is read like typed text, and the note kept as evidence."""
    if not msg.text:
        return attach(msg, conv, ctx)
    handle = complaint.location_reply if conv.state is State.AWAIT_LOCATION else complaint.intake
    outcome = handle(msg, conv, ctx)
    media = {"kind": "voice", "media_id": msg.media_id, "url": "", "recognition": msg.text,
             "source_msg_id": msg.dedup_key}
    if outcome.state is State.AWAIT_LOCATION:
        draft = {**outcome.draft, "media": [*outcome.draft.get("media", []), media]}
        return Outcome(outcome.reply, outcome.state, draft, outcome.ticket, outcome.notify)
    if outcome.ticket is not None:
        ctx.storage.tickets.attach(outcome.ticket, msg.sender, ctx.stamp(), **media)
    return outcome
