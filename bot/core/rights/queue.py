"""Read models of the workbench: the queue sorted by due date with days left, and the monthly on-time report.

Both are scoped to one organization. Days left use the business calendar's local days: green >= 7, amber,
red <= 2, overdue < 0 (the same bands as the work-order timers).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.core.common.clock import now
from bot.core.rights.deadline import days_left
from bot.core.rights.models import RightsRequest
from bot.core.rights.requests import CLOSED, OPEN, calendar_for


@dataclass(frozen=True)
class QueueRow:
    request: RightsRequest
    days_left: int | None

    @property
    def band(self) -> str:
        if self.days_left is None:
            return "none"
        if self.days_left < 0:
            return "overdue"
        if self.days_left <= 2:
            return "red"
        return "green" if self.days_left >= 7 else "amber"


async def list_queue(
    *, session: AsyncSession, settings: Settings, org_id: int, status: str = "open", kind: str = "", mine: int | None = None,
) -> list[QueueRow]:
    query = select(RightsRequest).where(RightsRequest.org_id == org_id)
    if status == "open":
        query = query.where(RightsRequest.status.in_(OPEN))
    elif status in OPEN + CLOSED:
        query = query.where(RightsRequest.status == status)
    if kind:
        query = query.where(RightsRequest.kind == kind)
    if mine is not None:
        query = query.where(RightsRequest.assignee_id == mine)
    rows = (await session.scalars(query.order_by(RightsRequest.due_at.is_(None), RightsRequest.due_at, RightsRequest.id)
                                  .limit(500))).all()
    calendar = await calendar_for(session=session, settings=settings, org_id=org_id)
    stamp = now()
    return [QueueRow(r, days_left(calendar, stamp, r.due_at) if r.due_at and r.status in OPEN else None) for r in rows]


@dataclass(frozen=True)
class MonthFigures:
    month: str
    closed: int
    on_time: int

    @property
    def late(self) -> int:
        return self.closed - self.on_time

    @property
    def percent(self) -> int:
        return round(100 * self.on_time / self.closed) if self.closed else 100


async def monthly_report(*, session: AsyncSession, org_id: int, months: int = 12) -> list[MonthFigures]:
    """Requests closed per month (fulfilled or denied) and how many before their due date, oldest month first."""
    rows = (await session.execute(select(RightsRequest.closed_at, RightsRequest.due_at).where(
        RightsRequest.org_id == org_id, RightsRequest.status.in_(("fulfilled", "denied")),
        RightsRequest.closed_at.is_not(None)))).all()
    closed: dict[str, int] = defaultdict(int)
    on_time: dict[str, int] = defaultdict(int)
    for closed_at, due in rows:
        if closed_at is None:
            continue
        key = closed_at.strftime("%Y-%m")
        closed[key] += 1
        on_time[key] += due is None or closed_at <= due
    keys = _last_months(now(), months)
    return [MonthFigures(month=k, closed=closed[k], on_time=on_time[k]) for k in keys]


def _last_months(stamp: datetime, count: int) -> list[str]:
    year, month = stamp.year, stamp.month
    keys = []
    for _ in range(count):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return list(reversed(keys))


def chart_svg(figures: list[MonthFigures], width: int = 640, height: int = 200) -> str:
    """A bar chart (on time green, late red) as inline SVG; numbers only, so nothing needs escaping."""
    top = max((f.closed for f in figures), default=0) or 1
    bar = width // max(len(figures), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 20}" role="img" '
             f'aria-label="requests closed per month, on time and late">']
    for i, f in enumerate(figures):
        x = i * bar + 4
        good = int(height * f.on_time / top)
        late = int(height * f.late / top)
        parts.append(f'<rect class="on-time" x="{x}" y="{height - good}" width="{bar - 8}" height="{good}" fill="#2e7d32"/>')
        parts.append(f'<rect class="late" x="{x}" y="{height - good - late}" width="{bar - 8}" height="{late}" fill="#c62828"/>')
        parts.append(f'<text x="{x}" y="{height + 14}" font-size="10">{f.month[2:]}</text>')
    parts.append("</svg>")
    return "".join(parts)
