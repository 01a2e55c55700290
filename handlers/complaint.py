"""Intake: a complete message makes a ticket; a missing location is asked for."""
from __future__ import annotations

import re

from bot import replies
from bot.clock import iso
from bot.conversation import Conversation, State
from bot.inbound import Inbound
from bot.sla import deadlines
from classifier import Classification
from classifier.extract import Location, extract_location, extract_phone, normalize
from handlers import Context, Outcome
from storage import DuplicateMessage, NewTicket, Notice, Resident, Ticket

MAX_TEXT = 2000  # a ticket's text; WeChat's own limit is 2048 bytes a message
# A message that chases an open ticket rather than reporting something new.
_URGE = re.compile(r"还没|怎么还|催|什么时候|啥时候|多久|到底|有人管吗|没人来|还要等|等了|快点|搞快点|进展|进度")


def intake(msg: Inbound, conv: Conversation, ctx: Context) -> Outcome:
    """IDLE + text: make a ticket, add a follow-up to the open one, or ask where."""
    if not msg.text.strip():
        return Outcome(replies.EMPTY_TEXT)
    resident = ctx.storage.residents.ensure_openid(msg.sender, ctx.stamp())
    cls = ctx.classify(msg.text)
    loc = extract_location(msg.text)
    open_ticket = ctx.storage.tickets.newest_open(resident.id)
    if open_ticket is not None and _is_followup(msg.text, cls, loc, open_ticket, ctx):
        return followup(msg, open_ticket, ctx)
    draft = {"text": msg.text[:MAX_TEXT], "phone": extract_phone(msg.text), "media": []}
    return _complete_or_ask(msg, resident, draft, loc, ctx, cls)


def location_reply(msg: Inbound, conv: Conversation, ctx: Context) -> Outcome:
    """AWAIT_LOCATION + text: the location completes the draft; anything else asks again."""
    loc = extract_location(msg.text)
    if not loc.known:
        # More description rather than a place: keep it with the draft and ask again.
        text = f"{conv.draft.get('text', '')}；{msg.text}"[:MAX_TEXT]
        return Outcome(replies.ASK_LOCATION_AGAIN, State.AWAIT_LOCATION, {**conv.draft, "text": text})
    resident = ctx.storage.residents.ensure_openid(msg.sender, ctx.stamp())
    draft = {**conv.draft, "phone": conv.draft.get("phone") or extract_phone(msg.text)}
    return _complete_or_ask(msg, resident, draft, loc, ctx)


def cancel_draft(msg: Inbound, conv: Conversation, ctx: Context) -> Outcome:
    """AWAIT_LOCATION + 取消: drop the draft."""
    return Outcome(replies.DRAFT_CANCELLED)


def location_pin(msg: Inbound, conv: Conversation, ctx: Context) -> Outcome:
    """A WeChat location pin can't name a flat: ask for it in words, keeping any draft."""
    return Outcome(replies.LOCATION_MSG.format(label=msg.label or "—"), conv.state, conv.draft)


def followup(msg: Inbound, ticket: Ticket, ctx: Context) -> Outcome:
    """Add the text to the open ticket and owe its forwarding to the owner (催办)."""
    notice = Notice("group", ticket.building, "followup",
                    {"text": msg.text, "owner": ticket.owner, "count": ticket.urge_count + 1})
    updated = ctx.storage.tickets.add_followup(ticket.number, msg.sender, ctx.stamp(), msg.text, [notice])
    if ticket.owner:
        reply = replies.FOLLOWUP_ADDED.format(number=ticket.number, count=updated.urge_count)
    else:
        reply = replies.FOLLOWUP_ADDED_NEW.format(number=ticket.number)
    return Outcome(reply, ticket=ticket.number, notify=True)


def _complete_or_ask(msg: Inbound, resident: Resident, draft: dict, loc: Location, ctx: Context,
                     cls: Classification | None = None) -> Outcome:
    profile = Location(resident.building, resident.unit, resident.room)
    where = loc.merged(profile)
    if not where.known:
        summary = draft["text"][:40]
        return Outcome(replies.ASK_LOCATION.format(summary=summary), State.AWAIT_LOCATION, draft)
    buildings = ctx.config.buildings
    if buildings and where.building not in buildings:
        return Outcome(replies.UNKNOWN_BUILDING.format(building=where.label()), State.AWAIT_LOCATION, draft)
    return _create(msg, resident, draft, where, loc, ctx, cls or ctx.classify(draft["text"]))


def _create(msg: Inbound, resident: Resident, draft: dict, where: Location, said: Location, ctx: Context,
            cls: Classification) -> Outcome:
    sla = ctx.config.sla[cls.urgency]
    now = ctx.now()
    due = deadlines(now, sla, ctx.config.tz)
    new = NewTicket(
        channel=msg.channel, resident_id=resident.id, text=draft["text"], category=cls.category,
        urgency=cls.urgency, department=cls.department, building=where.building, unit=where.unit,
        room=where.room, phone=draft.get("phone") or resident.phone, tags=cls.tags, matched=cls.matched,
        source_msg_id=msg.dedup_key, claim_due=iso(due.claim_due) if due.claim_due else None,
        arrive_due=iso(due.arrive_due) if due.arrive_due else None, resolve_due=iso(due.resolve_due),
    )
    notice = Notice("group", where.building, "new_ticket", {
        "category": cls.category, "urgency": cls.urgency, "location": where.label(), "text": draft["text"],
        "claim_minutes": sla.claim_minutes})
    stamp = iso(now)
    try:
        with ctx.storage.transaction():
            _remember(resident, said, draft.get("phone", ""), stamp, ctx)
            ticket = ctx.storage.tickets.create(new, msg.sender, stamp, [notice])
            for media in draft.get("media", []):
                ctx.storage.tickets.attach(ticket.number, msg.sender, stamp, **media)
    except DuplicateMessage as dup:
        ticket = ctx.storage.tickets.get(dup.number)
        assert ticket is not None
    return Outcome(created_reply(ticket, cls, ctx), ticket=ticket.number, notify=True)


def created_reply(ticket: Ticket, cls: Classification, ctx: Context) -> str:
    """Ticket number, category, urgency and the promise its urgency carries."""
    text = replies.TICKET_CREATED.format(
        number=ticket.number, category=ticket.category, urgency=ticket.urgency,
        location=Location(ticket.building, ticket.unit, ticket.room).label() or replies.LOCATION_UNKNOWN,
        promise=replies.promise(ticket.urgency, ctx.config.sla[ticket.urgency], ticket.department),
    )
    tip = replies.safety_tip(ticket.text) if ticket.urgency == "紧急" else ""
    return "\n".join(x for x in (text, tip, replies.EVIDENCE_HINT) if x)


def _remember(resident: Resident, said: Location, phone: str, stamp: str, ctx: Context) -> None:
    """Bind what the resident told us to their profile, so it is never asked again."""
    fields = {"phone": phone}
    if said.known and (said.room or not resident.building):
        fields.update(building=said.building, unit=said.unit, room=said.room)
    ctx.storage.residents.update(resident.id, stamp, **fields)


def _is_followup(text: str, cls: Classification, loc: Location, ticket: Ticket, ctx: Context) -> bool:
    """Chasing words, or the same (or no recognizable) problem in the same building."""
    if _URGE.search(normalize(text)):
        return True
    if loc.known and loc.building != ticket.building:
        return False
    return cls.category in (ticket.category, ctx.classifier().rules.fallback)
