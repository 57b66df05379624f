"""Business-time arithmetic holds for any start, target and pause (hypothesis)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.business_time import BusinessCalendar

CALENDARS = {
    "shanghai": BusinessCalendar(
        timezone="Asia/Shanghai",
        hours={d: [(540, 720), (780, 1080)] for d in range(5)},
        holidays=[date(2026, 10, 1), date(2026, 10, 2)],
        workdays=[date(2026, 10, 10)],
    ),
    "new_york": BusinessCalendar(
        timezone="America/New_York",
        hours={0: [(0, 1440)], 2: [(60, 240)], 5: [(600, 1000)], 6: [(30, 200), (300, 1440)]},
    ),
    "utc_247": BusinessCalendar(),
}

moments = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31))
targets = st.integers(min_value=0, max_value=60 * 24 * 20).map(lambda m: timedelta(minutes=m)) | st.timedeltas(
    min_value=timedelta(0), max_value=timedelta(days=3)
)
calendars = st.sampled_from(sorted(CALENDARS)).map(CALENDARS.__getitem__)
fast = settings(max_examples=150, deadline=None, database=None)  # no .hypothesis dir in the tree


@fast
@given(calendars, moments, targets)
def test_due_is_never_before_start(cal: BusinessCalendar, start: datetime, target: timedelta) -> None:
    assert cal.add_business(start, target) >= start


@fast
@given(calendars, moments, targets)
def test_business_between_inverts_add_business(cal: BusinessCalendar, start: datetime, target: timedelta) -> None:
    assert cal.business_between(start, cal.add_business(start, target)) == target


@fast
@given(calendars, moments, targets)
def test_closed_time_before_the_start_adds_nothing(cal: BusinessCalendar, start: datetime, target: timedelta) -> None:
    # Moving the start back through closed time (to the end of the previous open interval) changes nothing.
    opening = next(cal.open_intervals(start))[0]
    if opening > start and target > timedelta(0):
        assert cal.business_between(start, opening) == timedelta(0)
        assert cal.add_business(start, target) == cal.add_business(opening, target)


@fast
@given(calendars, moments, targets, st.floats(0, 1), st.floats(0, 1))
def test_a_pause_moves_due_by_exactly_its_business_time(
    cal: BusinessCalendar, start: datetime, target: timedelta, a: float, b: float
) -> None:
    due = cal.add_business(start, target)
    begin = start + (due - start) * min(a, b)
    end = start + (due - start) * max(a, b)
    paused = cal.business_between(begin, end)
    later = cal.add_business(start, target, pauses=[(begin, end)])
    assert later >= due
    assert cal.business_between(due, later) == paused
    assert cal.business_between(start, later, pauses=[(begin, end)]) == target


@fast
@given(calendars, moments, moments)
def test_time_inside_a_pause_adds_nothing(cal: BusinessCalendar, a: datetime, b: datetime) -> None:
    begin, end = min(a, b), max(a, b)
    assert cal.business_between(begin, end, pauses=[(begin - timedelta(hours=1), end)]) == timedelta(0)


@fast
@given(calendars, moments, st.integers(0, 40))
def test_working_days_end_at_local_midnight_of_a_working_day(cal: BusinessCalendar, start: datetime, days: int) -> None:
    due = cal.add_working_days(start, days)
    assert due > start
    last_day = cal.local_date(due - timedelta(microseconds=1))
    assert days == 0 or cal.is_working_day(last_day)
    assert cal.working_days_between(start, due - timedelta(microseconds=1)) == days
    assert cal.add_calendar_days(start, days) <= due
