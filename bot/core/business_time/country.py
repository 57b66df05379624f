"""Public holidays and make-up working days of a country from the `holidays` package (e.g. CN).

China moves weekend days: `weekend_workdays` lists the Saturdays and Sundays that are working days.
Years load on first use and stay cached, so a lookup is a set membership test.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import holidays as holidays_package

from bot.core.business_time.calendar import CalendarError


def supported(country: str) -> bool:
    return country.upper() in holidays_package.list_supported_countries()


class CountryDays:
    """Predicates for one country: `is_holiday(day)`, `is_workday(day)` (a make-up working day)."""

    def __init__(self, country: str) -> None:
        if not supported(country):
            raise CalendarError(f"country: unknown holiday country {country!r}")
        self.country = country.upper()

    @lru_cache(maxsize=64)  # noqa: B019 - one instance per configured country, kept for the process
    def _year(self, year: int) -> tuple[frozenset[date], frozenset[date]]:
        table = holidays_package.country_holidays(self.country, years=year)
        workdays = frozenset(d for d in getattr(table, "weekend_workdays", ()) if d.year == year)
        return frozenset(table.keys()), workdays

    def is_holiday(self, day: date) -> bool:
        return day in self._year(day.year)[0]

    def is_workday(self, day: date) -> bool:
        return day in self._year(day.year)[1]
