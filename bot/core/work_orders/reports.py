"""Reports: SLA targets met, median first response and resolution time, CSAT average and distribution,
per week and per agent, read from the report counters (rollup.py): a few thousand rows for a year,
whatever the number of work orders. Medians come from 5%-wide histograms (to within about 2.5%);
per agent the report gives averages.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.work_orders.models import ReportCount
from bot.core.work_orders.rollup import AGENT_ROW, HISTOGRAM, bucket_value


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
    """The lower median of a histogram {bucket: count}, as the middle of its bucket."""
    total = sum(histogram.values())
    if not total:
        return None
    seen, middle = 0, (total + 1) // 2
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= middle:
            return bucket_value(bucket)
    return None  # pragma: no cover - the loop always reaches the middle


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


async def build_report(*, session: AsyncSession, org_id: int, since: date, until: date) -> Report:
    """Weeks (Mondays, UTC) from `since` to `until` inclusive."""
    weeks: dict[str, Row] = {}
    agents: dict[int | None, Row] = {}
    total = Row("total")
    histograms: dict[tuple[str, str], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    distribution = dict.fromkeys(range(1, 6), 0)
    rows = await session.execute(
        select(ReportCount.week, ReportCount.metric, ReportCount.agent_id, ReportCount.bucket, ReportCount.count,
               ReportCount.met, ReportCount.total)
        .where(ReportCount.org_id == org_id, ReportCount.week >= since, ReportCount.week <= until)
    )
    for day, metric, agent_id, bucket, count, met, points in rows:
        week = day.isoformat()
        if bucket == AGENT_ROW:
            agent = agent_id or None
            for row in (weeks.setdefault(week, Row(week)), agents.setdefault(agent, Row(agent)), total):
                _add(row, metric, count, met, points)
        elif agent_id == HISTOGRAM and metric == "csat":
            distribution[bucket] = distribution.get(bucket, 0) + count
        elif agent_id == HISTOGRAM:
            histograms[(week, metric)][bucket] += count
            histograms[("total", metric)][bucket] += count
    for key, row in [*weeks.items(), ("total", total)]:
        row.median_resolution_s = _median(histograms.get((key, "resolution"), {}))
        row.median_first_response_s = _median(histograms.get((key, "first"), {}))
    return Report(
        since=since, until=until, weeks=[weeks[k] for k in sorted(weeks)],
        agents=sorted(agents.values(), key=lambda r: (r.key is None, r.key or 0)), total=total, distribution=distribution,
    )
