"""The system of record: SQLite behind small repositories with named methods."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from storage.db import Database
from storage.models import Event, NewTicket, Notice, OutboxRow, Resident, Status, Ticket
from storage.outbox import OutboxRepository
from storage.residents import ResidentRepository
from storage.tickets import DuplicateMessage, TicketRepository

__all__ = ["Storage", "open_storage", "DuplicateMessage", "Event", "NewTicket", "Notice",
           "OutboxRow", "Resident", "Status", "Ticket"]


class Storage:
    """The repositories over one SQLite file; `transaction()` groups their writes."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.outbox = OutboxRepository(database)
        self.residents = ResidentRepository(database)
        self.tickets = TicketRepository(database, self.outbox)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All repository writes inside commit together or not at all."""
        with self.database.transaction():
            yield

    def close(self) -> None:
        """Close this thread's connection."""
        self.database.close()


def open_storage(path: Path) -> Storage:
    """Open (creating and migrating) the SQLite file at path."""
    return Storage(Database(path))
