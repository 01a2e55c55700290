"""The injectable clock: production reads the system time, tests move a fake one."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware (UTC)."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        """Current time, timezone-aware (UTC)."""
        return datetime.now(timezone.utc)


class FrozenClock:
    """A clock that only moves when told to (for tests and replays)."""

    def __init__(self, start: datetime) -> None:
        self._now = start if start.tzinfo else start.replace(tzinfo=timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The frozen time."""
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> datetime:
        """Move forward by a timedelta given as keyword arguments."""
        with self._lock:
            self._now += timedelta(**delta)
            return self._now


def iso(dt: datetime) -> str:
    """The storage form of a time: UTC, ISO 8601, to the second (sorts as text)."""
    return dt.astimezone(timezone.utc).isoformat(timespec="seconds")


def parse_iso(text: str) -> datetime:
    """Read a stored time back."""
    return datetime.fromisoformat(text)
