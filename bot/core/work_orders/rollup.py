"""Report counters, kept as things happen, so a report reads a few thousand rows whatever the volume.

Per (organization, week, metric) three kinds of rows in `report_counts`:
- per agent (`bucket` = -1; agent 0 = unassigned): count, targets met, total (seconds, or CSAT points);
- a histogram for medians (`agent_id` = -1): durations in buckets 5% wide (CSAT: the rating as bucket);
- a histogram per agent for per-agent medians (`agent_id` >= 0, `bucket` >= 0; durations only).
A resolution is counted when a work order is resolved and taken back when it is reopened; a first response
when its clock stops; a CSAT answer when it is given. Writers that race on one counter row retry.
"""

from __future__ import annotations

import math
from datetime import date

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.work_orders.models import ReportCount

BASE = 1.05
AGENT_ROW, HISTOGRAM = -1, -1


def bucket_of(seconds: int) -> int:
    return int(math.log(max(seconds, 0) / 60 + 1, BASE))


def bucket_value(bucket: int) -> int:
    """The middle of a bucket, in seconds (the median is read to within half a bucket, about 2.5%)."""
    value: float = (BASE ** (bucket + 0.5) - 1) * 60
    return round(value)


async def _bump(session: AsyncSession, key: dict[str, object], count: int, met: int, total: int) -> None:
    where = [getattr(ReportCount, name) == value for name, value in key.items()]
    change = update(ReportCount).where(*where).values(
        count=ReportCount.count + count, met=ReportCount.met + met, total=ReportCount.total + total
    ).execution_options(synchronize_session=False)
    if (await session.execute(change)).rowcount:  # type: ignore[attr-defined]
        return
    try:
        async with session.begin_nested():
            session.add(ReportCount(**key, count=count, met=met, total=total))
            await session.flush()
    except IntegrityError:  # another writer created the row meanwhile
        await session.execute(change)


async def count_duration(
    *, session: AsyncSession, org_id: int, week: date, metric: str, agent_id: int | None, seconds: int, met: bool,
    sign: int = 1,
) -> None:
    """metric: resolution | first. sign -1 takes a counted one back (a reopened work order)."""
    agent = agent_id or 0
    await _bump(session, {"org_id": org_id, "week": week, "metric": metric, "agent_id": agent, "bucket": AGENT_ROW},
                sign, sign * int(met), sign * seconds)
    await _bump(session, {"org_id": org_id, "week": week, "metric": metric, "agent_id": HISTOGRAM, "bucket": bucket_of(seconds)},
                sign, sign * int(met), sign * seconds)
    await _bump(session, {"org_id": org_id, "week": week, "metric": metric, "agent_id": agent, "bucket": bucket_of(seconds)},
                sign, sign * int(met), sign * seconds)


async def count_rating(*, session: AsyncSession, org_id: int, week: date, agent_id: int | None, rating: int) -> None:
    agent = agent_id or 0
    await _bump(session, {"org_id": org_id, "week": week, "metric": "csat", "agent_id": agent, "bucket": AGENT_ROW}, 1, 0, rating)
    await _bump(session, {"org_id": org_id, "week": week, "metric": "csat", "agent_id": HISTOGRAM, "bucket": rating}, 1, 0, rating)
