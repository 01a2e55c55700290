"""Open SQLite (WAL, busy timeout), one connection per thread, and migrate the schema."""
from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

BUSY_TIMEOUT_MS = 10_000


def _v1(db: sqlite_utils.Database) -> None:
    db["residents"].create(
        {"id": int, "openid": str, "group_member_id": str, "name": str, "building": str,
         "unit": str, "room": str, "phone": str, "created_at": str, "updated_at": str},
        pk="id",
    )
    db.execute("CREATE UNIQUE INDEX residents_openid ON residents(openid) WHERE openid != ''")
    db.execute(
        "CREATE TABLE tickets ("
        " number INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, resident_id INTEGER"
        " REFERENCES residents(id), building TEXT NOT NULL DEFAULT '', unit TEXT NOT NULL DEFAULT '',"
        " room TEXT NOT NULL DEFAULT '', phone TEXT NOT NULL DEFAULT '', text TEXT NOT NULL,"
        " category TEXT NOT NULL, urgency TEXT NOT NULL, tags TEXT NOT NULL DEFAULT '[]',"
        " matched TEXT NOT NULL DEFAULT '[]', department TEXT NOT NULL DEFAULT '',"
        " status TEXT NOT NULL, owner TEXT NOT NULL DEFAULT '', assignee TEXT NOT NULL DEFAULT '',"
        " claim_due TEXT, arrive_due TEXT, resolve_due TEXT, created_at TEXT NOT NULL,"
        " claimed_at TEXT, arrived_at TEXT, resolved_at TEXT, closed_at TEXT, cancelled_at TEXT,"
        " urge_count INTEGER NOT NULL DEFAULT 0, rating_speed INTEGER, rating_effect INTEGER,"
        " rating_attitude INTEGER, source_msg_id TEXT)"
    )
    db.execute("CREATE UNIQUE INDEX tickets_source_msg ON tickets(source_msg_id) WHERE source_msg_id IS NOT NULL")
    db.execute("CREATE INDEX tickets_resident_status ON tickets(resident_id, status)")
    db.execute("CREATE INDEX tickets_status ON tickets(status)")
    db["ticket_events"].create(
        {"id": int, "ticket": int, "at": str, "actor": str, "kind": str, "data": str},
        pk="id", foreign_keys=[("ticket", "tickets", "number")],
    )
    db["ticket_events"].create_index(["ticket"])
    # The audit trail is append-only: the database itself refuses edits.
    db.execute("CREATE TRIGGER ticket_events_no_update BEFORE UPDATE ON ticket_events"
               " BEGIN SELECT RAISE(ABORT, 'ticket_events is append-only'); END")
    db.execute("CREATE TRIGGER ticket_events_no_delete BEFORE DELETE ON ticket_events"
               " BEGIN SELECT RAISE(ABORT, 'ticket_events is append-only'); END")
    db["attachments"].create(
        {"id": int, "ticket": int, "kind": str, "media_id": str, "url": str, "recognition": str,
         "at": str, "source_msg_id": str},
        pk="id", foreign_keys=[("ticket", "tickets", "number")],
    )
    db["attachments"].create_index(["ticket"])
    db.execute("CREATE UNIQUE INDEX attachments_source_msg ON attachments(source_msg_id) WHERE source_msg_id != ''")
    db["outbox"].create(
        {"id": int, "ticket": int, "channel": str, "target": str, "kind": str, "payload": str,
         "status": str, "attempts": int, "next_at": str, "created_at": str, "sent_at": str, "error": str},
        pk="id", not_null={"channel", "target", "kind", "payload", "status", "attempts", "next_at"},
        defaults={"attempts": 0, "error": ""},
    )
    db["outbox"].create_index(["status", "next_at"])


def insert(db: sqlite_utils.Database, table: str, row: dict[str, object]) -> int:
    """INSERT one row and return its rowid; unlike Table.insert it never creates or alters a table."""
    cols = ", ".join(row)
    marks = ", ".join("?" * len(row))
    return db.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", list(row.values())).lastrowid


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1]


class Database:
    """The SQLite file: a connection per thread and explicit write transactions."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self.migrate()

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's sqlite-utils handle."""
        db = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000)
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            db = self._local.db = sqlite_utils.Database(conn)
        return db

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """One write transaction; nested calls join the outer one (as savepoints)."""
        db = self.db
        if db.conn.in_transaction:
            with db.atomic():
                yield db
            return
        # IMMEDIATE takes the write lock up front, so two writers queue on the
        # busy timeout instead of one failing when it upgrades a read lock.
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.conn.execute("ROLLBACK")
            raise
        db.conn.execute("COMMIT")

    def migrate(self) -> int:
        """Bring the schema to the newest version; returns that version."""
        with self.transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for i, step in enumerate(MIGRATIONS[version:], start=version + 1):
                step(db)
                db.execute(f"PRAGMA user_version={i}")
        return len(MIGRATIONS)

    def close(self) -> None:
        """Close this thread's connection."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
