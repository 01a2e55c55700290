"""Owed notifications: written with the change that owes them, delivered by jobs."""
from __future__ import annotations

import json

from storage.db import Database, insert
from storage.models import Notice, OutboxRow


class OutboxRepository:
    """Named reads and writes of the outbox table."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def add(self, ticket: int | None, notice: Notice, at: str) -> int:
        """Owe one notice; joins the caller's transaction when there is one."""
        with self.database.transaction() as db:
            return insert(db, "outbox", {
                "ticket": ticket, "channel": notice.channel, "target": notice.target,
                "kind": notice.kind, "payload": json.dumps(notice.payload, ensure_ascii=False),
                "status": "pending", "attempts": 0, "next_at": at, "created_at": at, "error": "",
            })

    def due(self, now: str, limit: int = 100) -> list[OutboxRow]:
        """Pending notices whose next attempt time has come, oldest first."""
        rows = self.database.db.query(
            "SELECT * FROM outbox WHERE status = 'pending' AND next_at <= ? ORDER BY id LIMIT ?",
            [now, limit],
        )
        return [_row(r) for r in rows]

    def get(self, outbox_id: int) -> OutboxRow | None:
        """One row by id."""
        rows = list(self.database.db.query("SELECT * FROM outbox WHERE id = ?", [outbox_id]))
        return _row(rows[0]) if rows else None

    def for_ticket(self, ticket: int) -> list[OutboxRow]:
        """Every notice a ticket owed, in order."""
        return [_row(r) for r in self.database.db.query("SELECT * FROM outbox WHERE ticket = ? ORDER BY id", [ticket])]

    def claim(self, outbox_id: int, now: str, lease_until: str) -> bool:
        """Take a due row for delivery until lease_until; False when another worker has it."""
        with self.database.transaction() as db:
            cur = db.execute("UPDATE outbox SET next_at = ? WHERE id = ? AND status = 'pending' AND next_at <= ?",
                             [lease_until, outbox_id, now])
            return cur.rowcount == 1

    def mark_sent(self, outbox_id: int, at: str) -> None:
        """Record a delivery."""
        with self.database.transaction() as db:
            db.execute("UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, error = ''"
                       " WHERE id = ?", [at, outbox_id])

    def mark_retry(self, outbox_id: int, error: str, next_at: str) -> None:
        """Record a failed attempt that will be tried again at next_at."""
        with self.database.transaction() as db:
            db.execute("UPDATE outbox SET attempts = attempts + 1, error = ?, next_at = ? WHERE id = ?",
                       [error, next_at, outbox_id])

    def mark_failed(self, outbox_id: int, error: str, at: str) -> None:
        """Record a permanent failure, kept and shown, never retried."""
        with self.database.transaction() as db:
            db.execute("UPDATE outbox SET status = 'failed', attempts = attempts + 1, error = ?, sent_at = ?"
                       " WHERE id = ?", [error, at, outbox_id])

    def find(self, status: str | None = None, limit: int = 200) -> list[OutboxRow]:
        """Notices (optionally of one status), newest first."""
        sql, params = "SELECT * FROM outbox", []
        if status is not None:
            sql, params = sql + " WHERE status = ?", [status]
        return [_row(r) for r in self.database.db.query(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])]

    def counts(self) -> dict[str, int]:
        """How many notices are in each status."""
        return {r["status"]: r["n"] for r in self.database.db.query(
            "SELECT status, count(*) AS n FROM outbox GROUP BY status")}


def _row(r: dict) -> OutboxRow:
    return OutboxRow(
        id=r["id"], ticket=r["ticket"], channel=r["channel"], target=r["target"], kind=r["kind"],
        payload=json.loads(r["payload"]), status=r["status"], attempts=r["attempts"],
        next_at=r["next_at"], error=r["error"] or "",
    )
