"""Resident profiles bound to an openid, so known facts are never asked again."""
from __future__ import annotations

from storage.db import Database
from storage.models import Resident

_FIELDS = ("name", "building", "unit", "room", "phone")


class ResidentRepository:
    """Named reads and writes of the residents table."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def by_openid(self, openid: str) -> Resident | None:
        """The profile bound to an openid, if any."""
        rows = list(self.database.db["residents"].rows_where("openid = ?", [openid], limit=1))
        return _resident(rows[0]) if rows else None

    def get(self, resident_id: int) -> Resident | None:
        """A profile by id."""
        rows = list(self.database.db["residents"].rows_where("id = ?", [resident_id], limit=1))
        return _resident(rows[0]) if rows else None

    def ensure_openid(self, openid: str, at: str) -> Resident:
        """The profile for openid, created empty on first contact."""
        with self.database.transaction() as db:
            db.execute(
                "INSERT INTO residents (openid, group_member_id, name, building, unit, room, phone,"
                " created_at, updated_at) VALUES (?, '', '', '', '', '', '', ?, ?)"
                " ON CONFLICT (openid) WHERE openid != '' DO NOTHING",
                [openid, at, at],
            )
            found = self.by_openid(openid)
        assert found is not None
        return found

    def update(self, resident_id: int, at: str, **fields: str) -> Resident:
        """Set profile fields that were given (non-empty); others keep their value."""
        changes = {k: v for k, v in fields.items() if k in _FIELDS and v}
        with self.database.transaction() as db:
            if changes:
                sets = ", ".join(f"{k} = ?" for k in changes)
                db.execute(f"UPDATE residents SET {sets}, updated_at = ? WHERE id = ?",
                           [*changes.values(), at, resident_id])
            found = self.get(resident_id)
        assert found is not None
        return found


def _resident(row: dict) -> Resident:
    return Resident(
        id=row["id"], openid=row["openid"] or "", group_member_id=row["group_member_id"] or "",
        name=row["name"] or "", building=row["building"] or "", unit=row["unit"] or "",
        room=row["room"] or "", phone=row["phone"] or "",
    )
