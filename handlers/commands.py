"""Resident commands: 查询 / 我的工单 / 查询 N / 取消 N / 帮助."""
from __future__ import annotations

from datetime import datetime

from bot import replies
from bot.conversation import Conversation
from bot.inbound import Inbound
from classifier.extract import Location
from handlers import Context, Outcome
from storage import Ticket

LIST_LIMIT = 10


def help_text(msg: Inbound, conv: Conversation, ctx: Context) -> Outcome:
    """帮助: how to use the bot; a pending draft stays pending."""
    return Outcome(replies.HELP.format(name=ctx.config.property_name), conv.state, conv.draft)


def report_guide(msg: Inbound, conv: Conversation, ctx: Context) -> Outcome:
    """报修 (menu): how to report."""
    return Outcome(replies.REPORT_GUIDE, conv.state, conv.draft)


def list_tickets(msg: Inbound, conv: Conversation, ctx: Context) -> Outcome:
    """查询 / 我的工单: the resident's recent tickets with status and owner."""
    resident = ctx.storage.residents.by_openid(msg.sender)
    tickets = ctx.storage.tickets.for_resident(resident.id, limit=LIST_LIMIT) if resident else []
    if not tickets:
        return Outcome(replies.LIST_EMPTY, conv.state, conv.draft)
    lines = [replies.LIST_HEADER.format(n=len(tickets))]
    lines += [replies.LIST_LINE.format(
        number=t.number, category=t.category, status=replies.STATUS_LABELS[t.status.value],
        owner=t.owner or replies.OWNER_NONE, created=_local(t.created_at, ctx)) for t in tickets]
    return Outcome("\n".join(lines), conv.state, conv.draft)


def show_ticket(msg: Inbound, conv: Conversation, ctx: Context) -> Outcome:
    """查询 N: one of the resident's tickets in detail."""
    number = int(msg.arg)
    ticket = _own_ticket(msg, number, ctx)
    if ticket is None:
        return Outcome(replies.NOT_YOURS.format(number=number), conv.state, conv.draft)
    return Outcome(replies.DETAIL.format(
        number=ticket.number, status=replies.STATUS_LABELS[ticket.status.value], category=ticket.category,
        urgency=ticket.urgency, location=Location(ticket.building, ticket.unit, ticket.room).label(),
        text=ticket.text[:200],
        owner=replies.OWNER_IS.format(owner=ticket.owner) if ticket.owner else replies.OWNER_NONE,
        created=_local(ticket.created_at, ctx)), conv.state, conv.draft)


def cancel_ticket(msg: Inbound, conv: Conversation, ctx: Context) -> Outcome:
    """取消 N: cancel one of the resident's open tickets."""
    number = int(msg.arg)
    ticket = _own_ticket(msg, number, ctx)
    if ticket is None:
        return Outcome(replies.NOT_YOURS.format(number=number), conv.state, conv.draft)
    if not ticket.status.is_open:
        return Outcome(replies.CANNOT_CANCEL.format(
            number=number, status=replies.STATUS_LABELS[ticket.status.value]), conv.state, conv.draft)
    ctx.storage.tickets.cancel(number, msg.sender, ctx.stamp())
    return Outcome(replies.CANCELLED.format(number=number), conv.state, conv.draft, ticket=number)


def need_number(msg: Inbound, conv: Conversation, ctx: Context) -> Outcome:
    """取消 without a number (and no draft to drop): say how."""
    return Outcome(replies.NEED_NUMBER, conv.state, conv.draft)


def _own_ticket(msg: Inbound, number: int, ctx: Context) -> Ticket | None:
    resident = ctx.storage.residents.by_openid(msg.sender)
    ticket = ctx.storage.tickets.get(number)
    if resident is None or ticket is None or ticket.resident_id != resident.id:
        return None
    return ticket


def _local(stamp: str, ctx: Context) -> str:
    return datetime.fromisoformat(stamp).astimezone(ctx.config.tz).strftime("%m-%d %H:%M")

