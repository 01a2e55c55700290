"""TicketRepository: every ticket read and write, by name; no SQL outside storage/."""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from storage.db import Database, insert
from storage.models import Event, NewTicket, Notice, Status, Ticket
from storage.outbox import OutboxRepository

OPEN = tuple(s.value for s in Status if s.is_open)


class DuplicateMessage(Exception):
    """A ticket already exists for this channel message (a retry)."""

    def __init__(self, number: int) -> None:
        super().__init__(f"ticket #{number} already made from this message")
        self.number = number


class TicketRepository:
    """Named operations on tickets, their events and attachments."""

    def __init__(self, database: Database, outbox: OutboxRepository) -> None:
        self.database = database
        self.outbox = outbox

    def create(self, new: NewTicket, actor: str, at: str, notices: Iterable[Notice] = ()) -> Ticket:
        """Write a ticket, its 'created' event and the notices it owes, in one transaction."""
        row = {
            "channel": new.channel, "resident_id": new.resident_id, "building": new.building,
            "unit": new.unit, "room": new.room, "phone": new.phone, "text": new.text,
            "category": new.category, "urgency": new.urgency,
            "tags": json.dumps(list(new.tags), ensure_ascii=False),
            "matched": json.dumps(list(new.matched), ensure_ascii=False),
            "department": new.department, "status": Status.NEW.value, "owner": new.owner,
            "assignee": new.owner, "claim_due": new.claim_due, "arrive_due": new.arrive_due,
            "resolve_due": new.resolve_due, "created_at": at, "source_msg_id": new.source_msg_id or None,
        }
        try:
            with self.database.transaction() as db:
                number = insert(db, "tickets", row)
                self._event(number, at, actor, "created", {
                    "category": new.category, "urgency": new.urgency, "matched": list(new.matched),
                    "location": [new.building, new.unit, new.room]})
                for notice in notices:
                    self.outbox.add(number, _with_number(notice, number), at)
        except sqlite3.IntegrityError:
            existing = self.by_source_msg(new.source_msg_id) if new.source_msg_id else None
            if existing is None:
                raise
            raise DuplicateMessage(existing.number) from None
        ticket = self.get(number)
        assert ticket is not None
        return ticket

    def get(self, number: int) -> Ticket | None:
        """One ticket by number."""
        rows = list(self.database.db.query("SELECT * FROM tickets WHERE number = ?", [number]))
        return _ticket(rows[0]) if rows else None

    def by_source_msg(self, msg_id: str) -> Ticket | None:
        """The ticket a channel message made, if any."""
        rows = list(self.database.db.query("SELECT * FROM tickets WHERE source_msg_id = ?", [msg_id]))
        return _ticket(rows[0]) if rows else None

    def for_resident(self, resident_id: int, open_only: bool = False, limit: int = 10) -> list[Ticket]:
        """A resident's tickets, newest first."""
        sql = "SELECT * FROM tickets WHERE resident_id = ?"
        if open_only:
            sql += f" AND status IN ({','.join('?' * len(OPEN))})"
        sql += " ORDER BY number DESC LIMIT ?"
        params = [resident_id, *(OPEN if open_only else ()), limit]
        return [_ticket(r) for r in self.database.db.query(sql, params)]

    def newest_open(self, resident_id: int) -> Ticket | None:
        """The resident's newest open ticket, where evidence and follow-ups go."""
        found = self.for_resident(resident_id, open_only=True, limit=1)
        return found[0] if found else None

    def find(self, status: Status | None = None, limit: int | None = None) -> list[Ticket]:
        """All tickets (optionally of one status), oldest first."""
        sql, params = "SELECT * FROM tickets", []
        if status is not None:
            sql, params = sql + " WHERE status = ?", [status.value]
        sql += " ORDER BY number"
        if limit is not None:
            sql, params = sql + " LIMIT ?", [*params, limit]
        return [_ticket(r) for r in self.database.db.query(sql, params)]

    def count(self) -> int:
        """How many tickets exist."""
        return self.database.db["tickets"].count

    def cancel(self, number: int, actor: str, at: str, reason: str = "") -> Ticket:
        """Mark an open ticket cancelled by the resident."""
        with self.database.transaction() as db:
            db.execute("UPDATE tickets SET status = ?, cancelled_at = ? WHERE number = ?",
                       [Status.CANCELLED.value, at, number])
            self._event(number, at, actor, "cancelled", {"reason": reason})
        return self._must(number)

    def add_followup(self, number: int, actor: str, at: str, text: str, notices: Iterable[Notice] = ()) -> Ticket:
        """Add a resident's follow-up (催办) to the ticket and owe its forwarding."""
        with self.database.transaction() as db:
            db.execute("UPDATE tickets SET urge_count = urge_count + 1 WHERE number = ?", [number])
            self._event(number, at, actor, "followup", {"text": text})
            for notice in notices:
                self.outbox.add(number, _with_number(notice, number), at)
        return self._must(number)

    def attach(self, number: int, actor: str, at: str, kind: str, media_id: str = "", url: str = "",
               recognition: str = "", source_msg_id: str = "") -> int:
        """Keep a photo or voice note as evidence on the ticket; returns the attachment id.

        Idempotent per source message: a retried message returns the attachment it made.
        """
        with self.database.transaction() as db:
            if source_msg_id:
                found = list(db.query("SELECT id FROM attachments WHERE source_msg_id = ?", [source_msg_id]))
                if found:
                    return found[0]["id"]
            aid = insert(db, "attachments", {
                "ticket": number, "kind": kind, "media_id": media_id, "url": url,
                "recognition": recognition, "at": at, "source_msg_id": source_msg_id,
            })
            self._event(number, at, actor, "attachment", {"kind": kind, "attachment": aid})
        return aid

    def attachments(self, number: int) -> list[dict]:
        """A ticket's evidence, in order."""
        return list(self.database.db.query("SELECT * FROM attachments WHERE ticket = ? ORDER BY id", [number]))

    def events(self, number: int) -> list[Event]:
        """A ticket's audit trail, in order."""
        rows = self.database.db.query("SELECT * FROM ticket_events WHERE ticket = ? ORDER BY id", [number])
        return [Event(r["id"], r["ticket"], r["at"], r["actor"], r["kind"], json.loads(r["data"])) for r in rows]

    def _event(self, number: int, at: str, actor: str, kind: str, data: dict) -> None:
        insert(self.database.db, "ticket_events", {
            "ticket": number, "at": at, "actor": actor, "kind": kind,
            "data": json.dumps(data, ensure_ascii=False),
        })

    def _must(self, number: int) -> Ticket:
        ticket = self.get(number)
        if ticket is None:
            raise KeyError(number)
        return ticket


def _with_number(notice: Notice, number: int) -> Notice:
    return Notice(notice.channel, notice.target, notice.kind, {**notice.payload, "ticket": number})


def _ticket(r: dict) -> Ticket:
    rating = {k: r[f"rating_{k}"] for k in ("speed", "effect", "attitude") if r.get(f"rating_{k}") is not None}
    return Ticket(
        number=r["number"], channel=r["channel"], resident_id=r["resident_id"], text=r["text"],
        category=r["category"], urgency=r["urgency"], department=r["department"],
        status=Status(r["status"]), created_at=r["created_at"], building=r["building"], unit=r["unit"],
        room=r["room"], phone=r["phone"], tags=tuple(json.loads(r["tags"])), owner=r["owner"],
        assignee=r["assignee"], claim_due=r["claim_due"], arrive_due=r["arrive_due"],
        resolve_due=r["resolve_due"], claimed_at=r["claimed_at"], resolved_at=r["resolved_at"],
        closed_at=r["closed_at"], cancelled_at=r["cancelled_at"], urge_count=r["urge_count"],
        source_msg_id=r["source_msg_id"] or "", rating=rating,
    )
