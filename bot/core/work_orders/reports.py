"""Reports: SLA targets met, median first response and resolution time, CSAT average and distribution,
per week and per agent, read from the report counters (rollup.py), whatever the number of work orders.
Medians come from 5%-wide histograms (to within about 2.5%), per week, per agent and for the period; the
database sums the counters (per agent, over the weeks), so a year's report reads back a few thousand small rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.work_orders.models import ReportCount
from bot.core.work_orders.rollup import AGENT_ROW, HISTOGRAM, bucket_value

DURATIONS = ("resolution", "first")
TOTAL = object()  # the histogram of the whole period


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


def _median(histogram: dict[int, int]) -> int | None:
    """The lower median bucket of {bucket: count}."""
    total, seen = sum(histogram.values()), 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if total > 0 and seen * 2 >= total:
            return bucket
    return None


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
    db = await session.connection()  # plain rows: nothing here is an ORM object
    for day, metric, agent_id, count, met, points in await db.execute(
        select(ReportCount.week, ReportCount.metric, ReportCount.agent_id, *sums).where(*agent_rows)
        .group_by(ReportCount.week, ReportCount.metric, ReportCount.agent_id)
    ):
        week = day.isoformat()
        for row in (weeks.get(week) or weeks.setdefault(week, Row(week)), agents.get(agent_id or None)
                    or agents.setdefault(agent_id or None, Row(agent_id or None)), total):
            _add(row, metric, int(count), int(met), int(points))
    # Histograms come back as they lie in the unique index (the weeks': one row per week, metric and bucket; the
    # agents': summed over the weeks), and their medians are found here: that costs less than a window over them.
    histograms: dict[tuple[Any, str], dict[int, int]] = defaultdict(dict)
    for day, metric, bucket, count in await db.execute(
        select(ReportCount.week, ReportCount.metric, ReportCount.bucket, ReportCount.count)
        .where(*period, ReportCount.agent_id == HISTOGRAM, durations)
    ):
        histograms[(day, metric)][bucket] = count
        whole = histograms[(TOTAL, metric)]
        whole[bucket] = whole.get(bucket, 0) + count
    for agent_id, metric, bucket, count in await db.execute(
        select(ReportCount.agent_id, ReportCount.metric, ReportCount.bucket, func.sum(ReportCount.count))
        .where(*period, ReportCount.agent_id >= 0, ReportCount.bucket >= 0, durations)
        .group_by(ReportCount.agent_id, ReportCount.metric, ReportCount.bucket)
    ):
        histograms[(agent_id or None, metric)][bucket] = int(count)
    for (key, metric), histogram in histograms.items():
        target = total if key is TOTAL else weeks.get(key.isoformat()) if isinstance(key, date) else agents.get(key)
        median = _median(histogram)
        if target is not None and median is not None:
            _set_median(target, metric, median)
    distribution = dict.fromkeys(range(1, 6), 0)
    for rating, count in await db.execute(
        select(ReportCount.bucket, func.sum(ReportCount.count))
        .where(*period, ReportCount.agent_id == HISTOGRAM, ReportCount.metric == "csat").group_by(ReportCount.bucket)
    ):
        distribution[rating] = distribution.get(rating, 0) + int(count)
    return Report(
        since=since, until=until, weeks=[weeks[k] for k in sorted(weeks)],
        agents=sorted(agents.values(), key=lambda r: (r.key is None, r.key or 0)), total=total, distribution=distribution,
    )
