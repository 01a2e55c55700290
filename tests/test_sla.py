"""SLA deadlines on the Chinese working-day calendar, with an injected time."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from bot.config import SlaLevel
from bot.sla import add_working_days, deadlines

SH = ZoneInfo("Asia/Shanghai")


def test_urgent_clocks():
    created = datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc)  # 10:00 Shanghai
    d = deadlines(created, SlaLevel(5, 15, "same_day"), SH)
    assert d.claim_due == datetime(2026, 11, 26, 2, 5, tzinfo=timezone.utc)
    assert d.arrive_due == datetime(2026, 11, 26, 2, 15, tzinfo=timezone.utc)
    assert d.resolve_due == datetime(2026, 11, 26, 23, 59, 59, tzinfo=SH)


def test_same_day_late_at_night_still_gets_four_hours():
    created = datetime(2026, 11, 26, 15, 30, tzinfo=timezone.utc)  # 23:30 Shanghai
    assert deadlines(created, SlaLevel(5, 15, "same_day"), SH).resolve_due == datetime(
        2026, 11, 26, 19, 30, tzinfo=timezone.utc)


def test_hours_rule():
    created = datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc)
    assert deadlines(created, SlaLevel(60, 0, "24h"), SH).resolve_due == datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)


def test_working_days_skip_national_day_and_count_make_up_saturday():
    # 2026 National Day: Oct 1-7 off; Saturday Oct 10 is a 调休 working day.
    assert add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 10)


def test_working_days_skip_weekend():
    assert add_working_days(date(2026, 11, 26), 3) == date(2026, 12, 1)  # Thu -> Fri, Mon, Tue


def test_years_without_calendar_data_fall_back_to_weekdays():
    assert add_working_days(date(2030, 1, 4), 1) == date(2030, 1, 7)  # Fri -> Mon
