"""Official Account events: subscribe, unsubscribe, menu clicks; other kinds refused politely."""
from __future__ import annotations

from bot import replies
from bot.conversation import Conversation
from bot.inbound import Inbound
from handlers import Context, Outcome


def subscribe(msg: Inbound, conv: Conversation, ctx: Context) -> Outcome:
    """A new follower: welcome and how to use."""
    ctx.storage.residents.ensure_openid(msg.sender, ctx.stamp())
    return Outcome(replies.WELCOME.format(name=ctx.config.property_name))


def unsubscribe(msg: Inbound, conv: Conversation, ctx: Context) -> Outcome:
    """Unfollowed: nothing can be sent back; forget the conversation."""
    return Outcome("")


def ignore(msg: Inbound, conv: Conversation, ctx: Context) -> Outcome:
    """Events we do not act on (VIEW, SCAN, LOCATION, template receipts): no reply, state kept."""
    return Outcome("", conv.state, conv.draft)


def unsupported(msg: Inbound, conv: Conversation, ctx: Context) -> Outcome:
    """Message kinds we can't use (video, link, …): say what we accept; nothing changes."""
    return Outcome(replies.UNSUPPORTED, conv.state, conv.draft)
