"""Worked examples: a weekend, a holiday, a make-up working day (config and China's calendar), a DST change."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.core.business_time import BusinessCalendar, CalendarError, calendar_from_config

WEEKDAY_9_TO_6 = {d: [(540, 1080)] for d in range(5)}


def test_friday_afternoon_plus_two_hours_is_monday_morning() -> None:
    cal = BusinessCalendar(timezone="Asia/Shanghai", hours=WEEKDAY_9_TO_6)
    friday_5pm = datetime(2026, 1, 9, 9, 0)  # 17:00 in Shanghai (UTC+8)
    assert cal.add_business(friday_5pm, 120) == datetime(2026, 1, 12, 2, 0)  # Monday 10:00 local
    assert cal.business_between(friday_5pm, datetime(2026, 1, 12, 2, 0)) == timedelta(hours=2)


def test_a_holiday_is_skipped_and_a_make_up_saturday_counts() -> None:
    cal = BusinessCalendar(
        timezone="Asia/Shanghai", hours=WEEKDAY_9_TO_6, holidays=[date(2026, 1, 12)], workdays=[date(2026, 1, 10)]
    )
    friday_5pm = datetime(2026, 1, 9, 9, 0)
    # one hour left on Friday, then Saturday (make-up day) 09:00-10:00 local.
    assert cal.add_business(friday_5pm, 120) == datetime(2026, 1, 10, 2, 0)
    # 1 h Friday + 9 h Saturday, Sunday closed, Monday holiday, Tuesday 09:00 + 1 h.
    assert cal.add_business(friday_5pm, 11 * 60) == datetime(2026, 1, 13, 2, 0)
    assert cal.add_working_days(friday_5pm, 2) == datetime(2026, 1, 13, 16, 0)  # end of Tuesday, local midnight


def test_china_country_calendar_knows_the_national_day_swap(tmp_path: Path) -> None:
    env = {"INCS_DATA_DIR": str(tmp_path), "INCS_BUSINESS_TIME__COUNTRY": "cn", "INCS_BUSINESS_TIME__TIMEZONE": "Asia/Shanghai"}
    settings = load_settings(tmp_path / "none.yaml", env)
    cal = calendar_from_config(settings.business_time)
    assert not cal.is_working_day(date(2025, 10, 1)) and not cal.is_working_day(date(2025, 10, 8))
    assert cal.is_working_day(date(2025, 9, 28))  # a Sunday made a working day
    assert cal.is_working_day(date(2025, 10, 11))  # a Saturday made a working day
    tuesday_30_sept_5pm = datetime(2025, 9, 30, 9, 0)
    # 1 h on 30 Sept, closed 1-8 Oct, Thursday 9 Oct 09:00 + 1 h.
    assert cal.add_business(tuesday_30_sept_5pm, 120) == datetime(2025, 10, 9, 2, 0)


def test_dst_spring_forward_day_is_an_hour_shorter() -> None:
    cal = BusinessCalendar(timezone="America/New_York", hours={6: [(0, 1440)]})  # Sundays only, all day
    sunday = datetime(2026, 3, 8, 5, 0)  # 00:00 EST
    assert cal.business_between(sunday, sunday + timedelta(days=2)) == timedelta(hours=23)
    assert cal.add_business(sunday, 23 * 60) == datetime(2026, 3, 9, 4, 0)  # 00:00 EDT Monday
    autumn = datetime(2026, 11, 1, 4, 0)  # 00:00 EDT, the day clocks go back
    assert cal.business_between(autumn, autumn + timedelta(days=2)) == timedelta(hours=25)


def test_calendar_days_end_at_local_midnight() -> None:
    cal = BusinessCalendar(timezone="Asia/Shanghai", hours=WEEKDAY_9_TO_6)
    assert cal.add_calendar_days(datetime(2026, 1, 9, 9, 0), 15) == datetime(2026, 1, 24, 16, 0)


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        ("business_time:\n  timezone: Mars/Olympus\n", "business_time.timezone"),
        ("business_time:\n  country: XX\n", "business_time.country"),
        ("business_time:\n  hours: {mon: ['09:00-12:00', '11:00-18:00']}\n", "business_time.hours"),
        ("business_time:\n  hours: {mon: ['18:00-09:00']}\n", "business_time.hours"),
        ("business_time:\n  hours: {funday: ['09:00-18:00']}\n", "business_time.hours"),
        ("business_time:\n  hours: {mon: []}\n", "business_time.hours"),
    ],
)
def test_bad_calendar_config_is_refused_naming_the_key(tmp_path: Path, yaml_text: str, key: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{key.replace('.', '[.]')}"):
        load_settings(path, {"INCS_DATA_DIR": str(tmp_path)})


def test_a_calendar_that_never_opens_is_refused() -> None:
    with pytest.raises(CalendarError, match="never open"):
        BusinessCalendar(hours={})
    with pytest.raises(CalendarError, match="timezone"):
        BusinessCalendar(timezone="Nowhere/City")
