"""What a countdown needs in the page: due, at-risk and half-time moments of a clock (naive UTC -> ISO Z).

The browser ticks from these stored moments (static/countdown.js); the server's `now` comes along so
a browser whose clock is off (or a test's controlled clock) still colours the timers correctly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.core.business_time import BusinessCalendar
from bot.core.common.clock import now
from bot.core.work_orders import sla
from bot.core.work_orders.models import SlaColumns


@dataclass(frozen=True)
class Countdown:
    due: str
    risk: str
    half: str
    paused_left_seconds: float | None  # set while paused: a static "paused" label
    stopped: bool
    met: bool | None


def _iso(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") + "Z" if value is not None else ""


def server_now() -> str:
    return _iso(now())


def countdown(clock: SlaColumns, cal: BusinessCalendar, *, stopped: bool = False, at: datetime | None = None) -> Countdown:
    """`cal`: the organization's calendar (read once per page, not per row)."""
    if stopped:
        return Countdown("", "", "", None, True, clock.sla_met)
    if clock.due_at is None:
        return Countdown("", "", "", clock.remaining_seconds, False, None)
    half = sla.half_at(clock, cal, at or now())
    return Countdown(_iso(clock.due_at), _iso(clock.risk_at), _iso(half), None, False, None)
