"""The reports page (SVG charts per week, tables per agent) and its CSV export."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from aiohttp import web

from bot.core.common.clock import now
from bot.core.common.errors import InvalidInput
from bot.core.orgs.agents import agent_names
from bot.core.orgs.audit import record
from bot.core.orgs.permissions import member_org_id
from bot.core.work_orders.models import week_of
from bot.core.work_orders.reports import Report, Row, build_report
from bot.i18n import gettext
from bot.pages import request_locale
from workbench.auth import AGENT, agent_page, agent_transaction
from workbench.charts import bar_chart
from workbench.render import render

MAX_WEEKS = 104


def _period(request: web.Request) -> tuple[date, date]:
    try:
        weeks = int(request.query.get("weeks", "12"))
    except ValueError:
        raise InvalidInput("weeks: a number from 1 to 104") from None
    if not 1 <= weeks <= MAX_WEEKS:
        raise InvalidInput("weeks: a number from 1 to 104")
    until = week_of(now())
    return until - timedelta(weeks=weeks - 1), until


async def _report(request: web.Request) -> tuple[Report, dict[int, str]]:
    agent = request[AGENT]
    since, until = _period(request)
    async with agent_transaction(request) as session:
        report = await build_report(session=session, org_id=member_org_id(agent), since=since, until=until)
        names = await agent_names(session=session, org_id=member_org_id(agent))
        await record(session=session, org_id=agent.org_id, actor_type="agent", actor_id=agent.id, action="view_reports",
                     detail={"since": since.isoformat(), "until": until.isoformat()})
    return report, names


def _all_weeks(report: Report) -> list[Row]:
    by_week = {str(row.key): row for row in report.weeks}
    weeks, day = [], report.since
    while day <= report.until:
        weeks.append(by_week.get(day.isoformat(), Row(day)))
        day += timedelta(weeks=1)
    return weeks


def _agent_name(names: dict[int, str], key: object) -> str:
    return names.get(key, "unassigned") if isinstance(key, int) and key else "unassigned"


CHART_TITLES = {  # English, and the catalogues' keys
    "sla": "SLA targets met (%)",
    "first": "Median first response (h)",
    "resolution": "Median resolution time (h)",
    "csat": "CSAT average (1-5)",
    "distribution": "CSAT distribution",
    "first_agent": "Median first response per agent (h)",
    "resolution_agent": "Median resolution time per agent (h)",
}


def _hours(seconds: int | None) -> float | None:
    return round(seconds / 3600, 1) if seconds is not None else None


@agent_page
async def reports_view(request: web.Request) -> web.Response:
    report, names = await _report(request)
    weeks = _all_weeks(report)
    labels = [str(row.key)[5:] for row in weeks]
    locale = request_locale(request)

    def title(key: str) -> str:  # the page's language
        return gettext(locale, CHART_TITLES[key])

    charts = [
        bar_chart(title("sla"), labels, [row.sla_percent for row in weeks], "%"),
        bar_chart(title("first"), labels, [_hours(row.median_first_response_s) for row in weeks], " h"),
        bar_chart(title("resolution"), labels, [_hours(row.median_resolution_s) for row in weeks], " h"),
        bar_chart(title("csat"), labels, [row.csat_average for row in weeks], alt=True),
        bar_chart(title("distribution"), [f"{n}★" for n in range(1, 6)], [float(report.distribution[n]) for n in range(1, 6)],
                  alt=True),
    ]
    people = [_agent_name(names, row.key) for row in report.agents]
    if people:
        charts += [
            bar_chart(title("first_agent"), people,
                      [_hours(row.median_first_response_s) for row in report.agents], " h", alt=True),
            bar_chart(title("resolution_agent"), people,
                      [_hours(row.median_resolution_s) for row in report.agents], " h", alt=True),
        ]
    return render(request, "workbench/reports.html", report=report, weeks=weeks, charts=charts, names=names,
                  hours=_hours, weeks_param=request.query.get("weeks", "12"))


COLUMNS = ("scope", "key", "sla_percent", "resolved", "resolved_met", "median_resolution_seconds", "mean_resolution_seconds",
           "first_responses", "first_met", "median_first_response_seconds", "mean_first_response_seconds", "csat_count",
           "csat_average")


@agent_page
async def reports_csv(request: web.Request) -> web.Response:
    report, names = await _report(request)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    rows = [("week", str(r.key), r) for r in _all_weeks(report)]
    rows += [("agent", _agent_name(names, r.key), r) for r in report.agents]
    rows.append(("total", f"{report.since}..{report.until}", report.total))
    for scope, key, r in rows:
        writer.writerow([scope, _cell(key), r.sla_percent, r.resolved, r.resolved_met, r.median_resolution_s, r.mean_resolution_s,
                         r.first_responses, r.first_met, r.median_first_response_s, r.mean_first_response_s, r.csat_count,
                         r.csat_average])
    return web.Response(text=out.getvalue(), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="incs-report-{report.until}.csv"'})


def _cell(text: str) -> str:
    """Agent names are typed by people: never let a spreadsheet read one as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def setup(app: web.Application) -> None:
    app.router.add_get("/workbench/reports", reports_view)
    app.router.add_get("/workbench/reports.csv", reports_csv)
