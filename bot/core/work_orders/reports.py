"""Reports: SLA targets met, median first response and resolution time, CSAT average and distribution,
per week and per agent, read from the report counters (rollup.py), whatever the number of work orders.
Medians come from 5%-wide histograms (to within about 2.5%), per week, per agent and for the period; the
database sums the counters and finds each median bucket, so a year's report reads back a few hundred rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bot.core.work_orders.models import ReportCount
from bot.core.work_orders.rollup import AGENT_ROW, HISTOGRAM, bucket_value

DURATIONS = ("resolution", "first")


@dataclass
class Row:
    """One week, one agent, or the whole period."""

    key: Any
    resolved: int = 0
    resolved_met: int = 0
    median_resolution_s: int | None = None
    first_responses: int = 0
    first_met: int = 0
    median_first_response_s: int | None = None
    csat_count: int = 0
    csat_sum: int = 0
    resolution_total_s: int = 0
    first_total_s: int = 0

    @property
    def sla_percent(self) -> float | None:
        total = self.resolved + self.first_responses
        return round(100 * (self.resolved_met + self.first_met) / total, 1) if total else None

    @property
    def mean_resolution_s(self) -> int | None:
        return self.resolution_total_s // self.resolved if self.resolved else None

    @property
    def mean_first_response_s(self) -> int | None:
        return self.first_total_s // self.first_responses if self.first_responses else None

    @property
    def csat_average(self) -> float | None:
        return round(self.csat_sum / self.csat_count, 2) if self.csat_count else None


@dataclass
class Report:
    since: date
    until: date
    weeks: list[Row]
    agents: list[Row]
    total: Row
    distribution: dict[int, int] = field(default_factory=dict)


def _median_query(where: list[ColumnElement[bool]], keys: list[InstrumentedAttribute[Any]]) -> Select[Any]:
    """The lower median bucket per `keys` (+ metric), computed by the database: histogram rows summed per bucket,
    a running total per group, and the first bucket where it reaches the middle (2 * seen >= total: the lower
    median, in integers on every database). A few dozen rows come back."""
    group = [*keys, ReportCount.metric]
    summed = select(*group, ReportCount.bucket, func.sum(ReportCount.count).label("n")).where(*where) \
        .group_by(*group, ReportCount.bucket).subquery()
    parts = [summed.c[column.key] for column in group]
    running = select(
        *parts, summed.c.bucket,
        func.sum(summed.c.n).over(partition_by=parts, order_by=summed.c.bucket).label("seen"),
        func.sum(summed.c.n).over(partition_by=parts).label("total"),
    ).subquery()
    found = [running.c[column.key] for column in group]
    return select(*found, func.min(running.c.bucket)).where(running.c.total > 0, running.c.seen * 2 >= running.c.total) \
        .group_by(*found)


def _add(row: Row, metric: str, count: int, met: int, total: int) -> None:
    if metric == "resolution":
        row.resolved += count
        row.resolved_met += met
        row.resolution_total_s += total
    elif metric == "first":
        row.first_responses += count
        row.first_met += met
        row.first_total_s += total
    else:
        row.csat_count, row.csat_sum = row.csat_count + count, row.csat_sum + total


def _set_median(row: Row, metric: str, bucket: int) -> None:
    if metric == "resolution":
        row.median_resolution_s = bucket_value(bucket)
    else:
        row.median_first_response_s = bucket_value(bucket)


async def build_report(*, session: AsyncSession, org_id: int, since: date, until: date) -> Report:
    """Weeks (Mondays, UTC) from `since` to `until` inclusive. Sums and medians are computed by the database."""
    period = [ReportCount.org_id == org_id, ReportCount.week >= since, ReportCount.week <= until]
    durations = ReportCount.metric.in_(DURATIONS)
    sums = (func.sum(ReportCount.count), func.sum(ReportCount.met), func.sum(ReportCount.total))
    agent_rows = [*period, ReportCount.bucket == AGENT_ROW]
    weeks: dict[str, Row] = {}
    agents: dict[int | None, Row] = {}
    total = Row("total")
    for day, metric, count, met, points in await session.execute(
        select(ReportCount.week, ReportCount.metric, *sums).where(*agent_rows).group_by(ReportCount.week, ReportCount.metric)
    ):
        week = day.isoformat()
        for row in (weeks.setdefault(week, Row(week)), total):
            _add(row, metric, int(count), int(met), int(points))
    for agent_id, metric, count, met, points in await session.execute(
        select(ReportCount.agent_id, ReportCount.metric, *sums).where(*agent_rows).group_by(ReportCount.agent_id, ReportCount.metric)
    ):
        _add(agents.setdefault(agent_id or None, Row(agent_id or None)), metric, int(count), int(met), int(points))
    histogram = [*period, ReportCount.agent_id == HISTOGRAM, durations]
    for day, metric, bucket in await session.execute(_median_query(histogram, [ReportCount.week])):
        if day.isoformat() in weeks:
            _set_median(weeks[day.isoformat()], metric, bucket)
    for metric, bucket in await session.execute(_median_query(histogram, [])):
        _set_median(total, metric, bucket)
    per_agent = [*period, ReportCount.agent_id >= 0, ReportCount.bucket >= 0, durations]
    for agent_id, metric, bucket in await session.execute(_median_query(per_agent, [ReportCount.agent_id])):
        if (agent_id or None) in agents:
            _set_median(agents[agent_id or None], metric, bucket)
    distribution = dict.fromkeys(range(1, 6), 0)
    for rating, count in await session.execute(
        select(ReportCount.bucket, func.sum(ReportCount.count))
        .where(*period, ReportCount.agent_id == HISTOGRAM, ReportCount.metric == "csat").group_by(ReportCount.bucket)
    ):
        distribution[rating] = distribution.get(rating, 0) + int(count)
    return Report(
        since=since, until=until, weeks=[weeks[k] for k in sorted(weeks)],
        agents=sorted(agents.values(), key=lambda r: (r.key is None, r.key or 0)), total=total, distribution=distribution,
    )
