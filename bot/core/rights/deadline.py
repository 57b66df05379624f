"""Deadline arithmetic of rights requests, on the shared business calendar (naive UTC, local-day ends).

due = end of the (response_days + extended_days + paused_days)-th calendar or working day after the verified
receipt. A pause (the request awaits the customer) counts whole days: the days between its start and the
customer's answer, in the same unit, move the due date by as many days. Everything is data on the row, so a
restart or another process computes the same date.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.core.business_time import BusinessCalendar


def add_days(calendar: BusinessCalendar, start: datetime, days: int, mode: str) -> datetime:
    return calendar.add_working_days(start, days) if mode == "working" else calendar.add_calendar_days(start, days)


def days_between(calendar: BusinessCalendar, a: datetime, b: datetime, mode: str) -> int:
    """Days after a's local day up to and including b's local day (0 when both fall on the same day)."""
    if b <= a:
        return 0
    if mode == "working":
        return calendar.working_days_between(a, b)
    return (calendar.local_date(b) - calendar.local_date(a)).days


def due_at(
    calendar: BusinessCalendar, *, verified_at: datetime, response_days: int, extended_days: int, paused_days: int, mode: str
) -> datetime:
    return add_days(calendar, verified_at, response_days + extended_days + paused_days, mode)


def days_left(calendar: BusinessCalendar, moment: datetime, due: datetime) -> int:
    """Calendar days from moment's local day to the due day: 0 on the due day, negative when overdue."""
    return (calendar.local_date(due - timedelta(microseconds=1)) - calendar.local_date(moment)).days
