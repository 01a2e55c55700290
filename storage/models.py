"""Plain records that storage returns; no SQL types leak out of storage/."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Status(str, Enum):
    NEW = "new"  # 待接单
    CLAIMED = "claimed"  # 处理中
    PENDING = "pending"  # 挂起
    RESOLVED = "resolved"  # 已完成
    CLOSED = "closed"  # 已关闭
    CANCELLED = "cancelled"  # 已取消

    @property
    def is_open(self) -> bool:
        """Open tickets still need work."""
        return self in (Status.NEW, Status.CLAIMED, Status.PENDING)


@dataclass(frozen=True)
class Resident:
    id: int
    openid: str = ""
    group_member_id: str = ""
    name: str = ""
    building: str = ""
    unit: str = ""
    room: str = ""
    phone: str = ""


@dataclass(frozen=True)
class NewTicket:
    """What intake knows when it writes a ticket."""

    channel: str
    resident_id: int | None
    text: str
    category: str
    urgency: str
    department: str
    building: str = ""
    unit: str = ""
    room: str = ""
    phone: str = ""
    tags: tuple[str, ...] = ()
    matched: tuple[str, ...] = ()
    owner: str = ""  # set when staff enter a phone/walk-in complaint (they own it)
    source_msg_id: str = ""  # the channel message that made it: a retry can never make a second
    claim_due: str | None = None
    arrive_due: str | None = None
    resolve_due: str | None = None


@dataclass(frozen=True)
class Ticket:
    number: int
    channel: str
    resident_id: int | None
    text: str
    category: str
    urgency: str
    department: str
    status: Status
    created_at: str
    building: str = ""
    unit: str = ""
    room: str = ""
    phone: str = ""
    tags: tuple[str, ...] = ()
    owner: str = ""
    assignee: str = ""
    claim_due: str | None = None
    arrive_due: str | None = None
    resolve_due: str | None = None
    claimed_at: str | None = None
    resolved_at: str | None = None
    closed_at: str | None = None
    cancelled_at: str | None = None
    urge_count: int = 0
    source_msg_id: str = ""
    rating: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    id: int
    ticket: int
    at: str
    actor: str
    kind: str
    data: dict


@dataclass(frozen=True)
class Notice:
    """A notification owed by a change, written in the same transaction (outbox)."""

    channel: str  # "group" (building group robot) or "mp" (resident on the Official Account)
    target: str  # building name, or openid
    kind: str  # e.g. "new_ticket", "followup"
    payload: dict


@dataclass(frozen=True)
class OutboxRow:
    id: int
    ticket: int | None
    channel: str
    target: str
    kind: str
    payload: dict
    status: str
    attempts: int
    next_at: str
    error: str = ""
