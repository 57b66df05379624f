"""Build a BusinessCalendar from the `business_time` config section (validated in bot/config.py)."""

from __future__ import annotations

from datetime import date
from typing import Protocol

from bot.core.business_time.calendar import BusinessCalendar, MinuteSpan, parse_span
from bot.core.business_time.country import CountryDays

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class CalendarSettings(Protocol):
    timezone: str
    hours: dict[str, list[str]]
    holidays: list[date]
    workdays: list[date]
    country: str


def calendar_from_config(section: CalendarSettings) -> BusinessCalendar:
    hours: dict[int, list[MinuteSpan]] = {
        WEEKDAYS.index(day): [parse_span(span) for span in spans] for day, spans in section.hours.items()
    }
    country = CountryDays(section.country) if section.country else None
    return BusinessCalendar(
        timezone=section.timezone,
        hours=hours,
        holidays=section.holidays,
        workdays=section.workdays,
        country_holiday=country.is_holiday if country else None,
        country_workday=country.is_workday if country else None,
    )
