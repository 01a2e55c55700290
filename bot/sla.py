"""SLA clocks: the deadlines an urgency level sets, on the Chinese working-day calendar."""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

from bot.config import SlaLevel

log = logging.getLogger(__name__)
# A "same day" ticket raised late in the evening still gets this long to be resolved.
SAME_DAY_MINIMUM = timedelta(hours=4)


@dataclass(frozen=True)
class Deadlines:
    claim_due: datetime | None
    arrive_due: datetime | None
    resolve_due: datetime


def deadlines(created: datetime, sla: SlaLevel, tz: ZoneInfo) -> Deadlines:
    """The claim, on-site and resolve deadlines for a ticket created at `created`."""
    claim = created + timedelta(minutes=sla.claim_minutes) if sla.claim_minutes else None
    arrive = created + timedelta(minutes=sla.arrive_minutes) if sla.arrive_minutes else None
    return Deadlines(claim, arrive, resolve_due(created, sla, tz))


def resolve_due(created: datetime, sla: SlaLevel, tz: ZoneInfo) -> datetime:
    """When the ticket must be resolved."""
    if sla.resolve_hours:
        return created + timedelta(hours=sla.resolve_hours)
    local = created.astimezone(tz)
    if sla.resolve_working_days:
        day = add_working_days(local.date(), sla.resolve_working_days)
        return _end_of(day, tz)
    return max(_end_of(local.date(), tz), created + SAME_DAY_MINIMUM)


def add_working_days(start: date, n: int) -> date:
    """The n-th Chinese working day after start (statutory holidays and 调休 included)."""
    day = start
    while n > 0:
        day += timedelta(days=1)
        if is_workday(day):
            n -= 1
    return day


def is_workday(day: date) -> bool:
    """True on a Chinese working day; Monday-Friday where the calendar has no data yet."""
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        _warn_no_calendar(day.year)
        return day.weekday() < 5


@functools.cache
def _warn_no_calendar(year: int) -> None:
    log.warning("chinesecalendar has no data for %s; counting Monday-Friday as working days "
                "(upgrade chinesecalendar when the State Council publishes the year's holidays)", year)


def _end_of(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=tz)
