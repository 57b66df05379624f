"""SLA clock arithmetic on any row with SlaColumns, in business time.

start / pause / resume / retarget / stop keep `due_at`, `risk_at` and `next_alert_at` consistent:
the clock's used business time is preserved across pauses and priority changes, so waiting on the
customer moves the deadline by exactly the paused business time. A breached clock stays breached:
pausing or retargeting it never moves a due time that has already passed (no second breach push).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings, SlaConfig
from bot.core.business_time import BusinessCalendar
from bot.core.business_time.orgs import org_calendar
from bot.core.work_orders.models import PAUSED_SORT, SlaColumns


async def calendar_for(*, session: AsyncSession, settings: Settings, org_id: int) -> BusinessCalendar:
    """The organization's calendar (its timezone and hours over the deployment's), cached by definition."""
    return await org_calendar(session=session, settings=settings, org_id=org_id)


def risk_fraction(sla: SlaConfig) -> float:
    return sla.at_risk_percent / 100


def _left(clock: SlaColumns, cal: BusinessCalendar, at: datetime) -> timedelta:
    """Business time left on the clock at `at` (negative when past due)."""
    if clock.due_at is None:
        return timedelta(seconds=clock.remaining_seconds or 0)
    return cal.business_between(at, clock.due_at)


def _schedule(clock: SlaColumns, cal: BusinessCalendar, at: datetime, left: timedelta, fraction: float) -> None:
    target = timedelta(minutes=clock.target_minutes)
    due = cal.add_business(at, left)
    if due != clock.due_at:
        clock.risk_notified = clock.breach_notified = False
    risk_left = target * (1 - fraction)
    clock.due_at = due
    clock.risk_at = cal.add_business(at, left - risk_left) if left > risk_left else at
    clock.remaining_seconds = None
    clock.paused_at = None
    clock.queue_at = due
    _next_alert(clock)


def alert_after(due_at: datetime | None, risk_at: datetime | None, risk_notified: bool, breach_notified: bool) -> datetime | None:
    """The next crossing to announce: at risk, then breach, then none."""
    if due_at is None:
        return None
    if not risk_notified:
        return risk_at
    return None if breach_notified else due_at


def _next_alert(clock: SlaColumns) -> None:
    clock.next_alert_at = alert_after(clock.due_at, clock.risk_at, clock.risk_notified, clock.breach_notified)


def start(clock: SlaColumns, cal: BusinessCalendar, at: datetime, target_minutes: int, fraction: float) -> None:
    clock.target_minutes = target_minutes
    clock.due_at = None
    clock.sla_met = None
    _schedule(clock, cal, at, timedelta(minutes=target_minutes), fraction)


def is_breached(clock: SlaColumns, at: datetime) -> bool:
    return clock.due_at is not None and clock.due_at <= at


def pause(clock: SlaColumns, cal: BusinessCalendar, at: datetime) -> None:
    """Waiting on the customer: keep the business time left, drop the deadline until resume."""
    if clock.due_at is None or is_breached(clock, at):
        return
    clock.remaining_seconds = _left(clock, cal, at).total_seconds()
    clock.paused_at = at
    clock.queue_at = PAUSED_SORT
    clock.due_at = clock.risk_at = clock.next_alert_at = None


def resume(clock: SlaColumns, cal: BusinessCalendar, at: datetime, fraction: float) -> None:
    if clock.paused_at is None:
        return
    _schedule(clock, cal, at, timedelta(seconds=clock.remaining_seconds or 0), fraction)


def retarget(clock: SlaColumns, cal: BusinessCalendar, at: datetime, target_minutes: int, fraction: float) -> None:
    """A new priority: the business time already used counts against the new target."""
    if is_breached(clock, at):
        clock.target_minutes = target_minutes
        return
    used = timedelta(minutes=clock.target_minutes) - _left(clock, cal, at)
    left = max(timedelta(minutes=target_minutes) - used, timedelta(0))
    clock.target_minutes = target_minutes
    if clock.paused_at is not None:
        clock.remaining_seconds = left.total_seconds()
        return
    _schedule(clock, cal, at, left, fraction)


def stop(clock: SlaColumns, cal: BusinessCalendar, at: datetime) -> None:
    """The target was reached (or abandoned): record whether it was met; nothing more to announce.
    The business time left is kept so a reopen continues the same clock."""
    if clock.due_at is None and clock.paused_at is None:
        return
    left = _left(clock, cal, at)
    clock.sla_met = left >= timedelta(0)
    clock.remaining_seconds = left.total_seconds()
    clock.paused_at = at
    clock.next_alert_at = clock.queue_at = clock.risk_at = None


def restart_after_stop(clock: SlaColumns, cal: BusinessCalendar, at: datetime, fraction: float) -> None:
    """Reopened: continue with the business time that was left (a breached clock keeps its due time)."""
    clock.sla_met = None
    if (clock.remaining_seconds or 0) <= 0 and clock.due_at is not None:
        clock.paused_at = clock.remaining_seconds = None
        clock.queue_at = clock.due_at
        _next_alert(clock)
        return
    _schedule(clock, cal, at, timedelta(seconds=max(clock.remaining_seconds or 0, 0)), fraction)


def half_at(clock: SlaColumns, cal: BusinessCalendar, at: datetime) -> datetime | None:
    """When half of the target is used (the countdown turns from green to amber)."""
    if clock.due_at is None:
        return None
    left = _left(clock, cal, at)
    half = timedelta(minutes=clock.target_minutes) / 2
    return cal.add_business(at, left - half) if left > half else at
