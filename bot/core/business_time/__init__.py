"""Business time, shared by SLA clocks (minutes) and rights-request deadlines (working or calendar days).

    calendar = calendar_from_config(settings.business_time)
    due = calendar.add_business(start, 240)                 # 4 business hours, naive UTC
    left = calendar.business_between(clock.now(), due)      # timedelta
    deadline = calendar.add_working_days(received_at, 15)   # end of the 15th working day, local midnight

An organization's own calendar (its timezone and hours over the deployment's section) comes from
`bot.core.business_time.orgs.org_calendar(session=..., settings=..., org_id=...)`, cached per definition.

Pauses: pass closed `(begin, end)` intervals to `add_business` / `business_between`, or store the
business time remaining when a clock pauses and `add_business(resumed_at, remaining)` on resume.
"""

from __future__ import annotations

from bot.core.business_time.calendar import (
    BusinessCalendar,
    CalendarError,
    Interval,
    MinuteSpan,
    parse_span,
)
from bot.core.business_time.config import WEEKDAYS, calendar_from_config

__all__ = [
    "WEEKDAYS",
    "BusinessCalendar",
    "CalendarError",
    "Interval",
    "MinuteSpan",
    "calendar_from_config",
    "parse_span",
]
