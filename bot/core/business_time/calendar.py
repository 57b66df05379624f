"""The business calendar: deadlines in business time (opening hours, holidays, make-up working days).

Naive UTC datetimes in and out, like bot/core/clock.py; the organization's zone (zoneinfo) only
decides where each local opening interval falls in UTC, so DST changes are handled by the zone.
Guarantees: `add_business` never returns a time before its start; closed time and pauses add
nothing; `business_between(start, add_business(start, m)) == m` exactly (microsecond timedeltas).
Days are first-class too: `add_working_days` and `add_calendar_days` end at local midnight.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Interval = tuple[datetime, datetime]
MinuteSpan = tuple[int, int]  # minutes after local midnight, end exclusive, 0 <= start < end <= 1440
DayPredicate = Callable[[date], bool]

MAX_SCAN_DAYS = 3660  # a calendar that stays closed this long cannot produce a deadline
DAY_MINUTES = 24 * 60


class CalendarError(ValueError):
    """The calendar's definition is invalid, or it cannot produce a deadline; the message names the part.
    Like a domain error it keeps its text's key and values (`key`, `params`), so a form can say it in the reader's
    language."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.key = message
        self.params = params


def parse_span(text: str) -> MinuteSpan:
    """'09:00-18:00' -> (540, 1080); '24:00' may end a span."""
    try:
        left, right = (part.strip() for part in text.split("-"))
        start, end = _minutes(left), _minutes(right)
    except ValueError:
        raise CalendarError("%(span)s: expected HH:MM-HH:MM", span=repr(text)) from None
    if not 0 <= start < end <= DAY_MINUTES:
        raise CalendarError("%(span)s: the span is empty or inverted", span=repr(text))
    return start, end


def _minutes(text: str) -> int:
    hour, minute = text.split(":")
    if len(hour) != 2 or len(minute) != 2 or not (hour + minute).isdigit() or int(minute) > 59:
        raise ValueError(text)
    return int(hour) * 60 + int(minute)


def check_spans(spans: Sequence[MinuteSpan], where: str) -> tuple[MinuteSpan, ...]:
    ordered = tuple(sorted(spans))
    for (_, end), (start, _) in zip(ordered, ordered[1:], strict=False):
        if start < end:
            raise CalendarError("%(where)s: opening hours overlap", where=where)
    return ordered


def _to_utc(day: date, minute: int, zone: ZoneInfo) -> datetime:
    local = datetime.combine(day, time()) + timedelta(minutes=minute)  # 24:00 -> next midnight
    return local.replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None)


class BusinessCalendar:
    """One organization's business time. Build it once; its definition is immutable (each day's UTC intervals are
    remembered as they are computed) and it is cheap to query."""

    def __init__(
        self,
        *,
        timezone: str = "UTC",
        hours: Mapping[int, Sequence[MinuteSpan]] | None = None,
        holidays: Iterable[date] = (),
        workdays: Iterable[date] = (),
        makeup_weekday: int = 0,
        country_holiday: DayPredicate | None = None,
        country_workday: DayPredicate | None = None,
    ) -> None:
        """`hours`: weekday (0 = Monday) -> spans; a missing weekday is closed (None: every day, all day).
        `workdays` are make-up working days (open with `makeup_weekday`'s hours even on a weekend)."""
        try:
            self.zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise CalendarError(f"timezone: unknown zone {timezone!r}") from None
        raw = {day: [(0, DAY_MINUTES)] for day in range(7)} if hours is None else hours
        self.hours = {day: check_spans(raw.get(day, ()), f"hours.{day}") for day in range(7)}
        self.makeup_hours = self.hours[makeup_weekday] or next((s for s in self.hours.values() if s), ())
        if not self.makeup_hours:
            raise CalendarError("hours: the calendar is never open")
        self.holidays = frozenset(holidays)
        self.workdays = frozenset(workdays)
        self._country_holiday = country_holiday
        self._country_workday = country_workday
        self._days: dict[date, tuple[Interval, ...]] = {}  # a local day's open intervals in UTC, as asked for

    # --- days -------------------------------------------------------------------------------------
    def spans_on(self, day: date) -> tuple[MinuteSpan, ...]:
        """Local opening spans of one day (empty when closed)."""
        if day in self.workdays or (self._country_workday is not None and self._country_workday(day)):
            return self.hours[day.weekday()] or self.makeup_hours
        if day in self.holidays or (self._country_holiday is not None and self._country_holiday(day)):
            return ()
        return self.hours[day.weekday()]

    def is_working_day(self, day: date) -> bool:
        return bool(self.spans_on(day))

    def local_date(self, moment: datetime) -> date:
        return moment.replace(tzinfo=UTC).astimezone(self.zone).date()

    def end_of_local_day(self, day: date) -> datetime:
        return _to_utc(day, DAY_MINUTES, self.zone)

    def add_calendar_days(self, start: datetime, days: int) -> datetime:
        """The end (local midnight) of the `days`-th calendar day after start's local day."""
        if days < 0:
            raise CalendarError("days: must not be negative")
        return self.end_of_local_day(self.local_date(start) + timedelta(days=days))

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The end (local midnight) of the `days`-th working day after start's local day (0: start's day)."""
        if days < 0:
            raise CalendarError("days: must not be negative")
        day = self.local_date(start)
        for _ in range(MAX_SCAN_DAYS):
            if days == 0:
                return self.end_of_local_day(day)
            day += timedelta(days=1)
            days -= self.is_working_day(day)
        raise CalendarError("the calendar has no working day within ten years")

    def working_days_between(self, a: datetime, b: datetime) -> int:
        """Working days after a's local day up to and including b's local day."""
        first, last = self.local_date(a), self.local_date(b)
        count, day = 0, first + timedelta(days=1)
        while day <= last:
            count += self.is_working_day(day)
            day += timedelta(days=1)
        return count

    # --- minutes ----------------------------------------------------------------------------------
    def open_intervals(self, start: datetime, pauses: Iterable[Interval] = ()) -> Iterator[Interval]:
        """Open business intervals from `start` on, in UTC, with pauses cut out; ascending."""
        cuts = _merged(pauses)
        day = self.local_date(start) - timedelta(days=1)  # a zone ahead of UTC may start the day before
        for _ in range(MAX_SCAN_DAYS):
            for begin, end in self._utc_intervals(day):
                begin = max(begin, start)
                if end > begin:
                    yield from _subtract(begin, end, cuts)
            day += timedelta(days=1)
        raise CalendarError("the calendar is not open within ten years")

    def _utc_intervals(self, day: date) -> tuple[Interval, ...]:
        """Kept per day: a page of countdowns or a sweep asks about the same few days for every row."""
        known = self._days.get(day)
        if known is None:
            if len(self._days) > 4096:
                self._days.clear()
            known = self._days[day] = tuple((_to_utc(day, a, self.zone), _to_utc(day, b, self.zone)) for a, b in self.spans_on(day))
        return known

    def add_business(
        self, start: datetime, minutes: float | timedelta, pauses: Iterable[Interval] = ()
    ) -> datetime:
        """The moment when `minutes` of business time (pauses excluded) have passed since start."""
        remaining = minutes if isinstance(minutes, timedelta) else timedelta(minutes=minutes)
        if remaining < timedelta(0):
            raise CalendarError("minutes: must not be negative")
        if remaining == timedelta(0):
            return start
        for begin, end in self.open_intervals(start, pauses):
            if remaining <= end - begin:
                return begin + remaining
            remaining -= end - begin
        raise CalendarError("unreachable")  # pragma: no cover - open_intervals raises first

    def business_between(self, a: datetime, b: datetime, pauses: Iterable[Interval] = ()) -> timedelta:
        """Business time from a to b (negative when b is before a), pauses excluded."""
        if b < a:
            return -self.business_between(b, a, pauses)
        total = timedelta(0)
        for begin, end in self.open_intervals(a, pauses):
            if begin >= b:
                break
            total += min(end, b) - begin
        return total


def _merged(pauses: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for begin, end in sorted(p for p in pauses if p[1] > p[0]):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def _subtract(begin: datetime, end: datetime, cuts: list[Interval]) -> Iterator[Interval]:
    for cut_begin, cut_end in cuts:
        if cut_end <= begin or cut_begin >= end:
            continue
        if cut_begin > begin:
            yield begin, cut_begin
        begin = max(begin, cut_end)
        if begin >= end:
            return
    yield begin, end
