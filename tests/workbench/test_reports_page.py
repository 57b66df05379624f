"""Reports per agent: medians (not only means) in the report, the page's table, its charts and the CSV, from known
resolution times; a reopened work order leaves its agent's median."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from pathlib import Path

import aiohttp

from bot.core.common import clock
from bot.core.orgs.agents import create_agent
from bot.core.orgs.models import Agent
from bot.core.storage.db import transaction
from bot.core.work_orders.changes import assign_work_order, change_status
from bot.core.work_orders.models import WorkOrder
from bot.core.work_orders.reports import build_report
from bot.core.work_orders.rollup import bucket_of, bucket_value
from bot.core.work_orders.services import open_work_order
from tests.conftest import Server, start_server
from tests.utils.factories import PASSWORD, login, make_org
from tests.utils.work_orders import at, make_customer, sla_settings

T0 = datetime(2026, 3, 2, 9, 0)  # Monday; every resolution below falls in this week
WEEK = date(2026, 3, 2)


def median(minutes: int) -> int:
    """What the report shows for a median of `minutes`: the middle of its 5% bucket."""
    return bucket_value(bucket_of(minutes * 60))


async def _resolve(server: Server, agent_id: int, minutes: list[int]) -> list[int]:
    """Open one work order per duration at T0, assign it, resolve it `minutes` later; returns their ids."""
    settings = server.ctx.settings
    async with server.ctx.factory() as session:
        admin = await session.get(Agent, agent_id)
    assert admin is not None and admin.org_id is not None
    customer, conversation = await make_customer(server.ctx.factory, admin.org_id, external_id=f"c{agent_id}")
    ids = []
    for m in minutes:
        clock.set_clock(lambda: T0)
        async with transaction(server.ctx.factory) as session:
            order = await open_work_order(session=session, settings=settings, customer=customer, category="billing",
                                          description=f"takes {m} min", conversation=conversation)
            await assign_work_order(session=session, order=order, assignee_id=agent_id, agent=admin)
            ids.append(order.id)
        at(T0 + timedelta(minutes=m))
        async with transaction(server.ctx.factory) as session:
            order = await session.get_one(WorkOrder, ids[-1])
            assert order is not None
            await change_status(session=session, settings=settings, order=order, status="resolved", agent=admin)
    return ids


async def test_per_agent_medians_in_report_page_charts_and_csv(db_url: str, tmp_path: Path, http: aiohttp.ClientSession) -> None:
    server = await start_server(sla_settings(db_url, tmp_path / "data"))
    try:
        demo = await make_org(server.ctx.factory)
        async with transaction(server.ctx.factory) as session:
            bea = await create_agent(session=session, org_id=demo.org.id, email="bea@demo.example.com", password=PASSWORD,
                                     name="Bea Quick")
        ann_orders = await _resolve(server, demo.admin.id, [60, 120, 600])  # mean 260 min, median 120
        await _resolve(server, bea.id, [30, 3000])  # lower median 30, mean 1515
        async with server.ctx.factory() as session:
            report = await build_report(session=session, org_id=demo.org.id, since=WEEK, until=WEEK)
        rows = {row.key: row for row in report.agents}
        assert rows[demo.admin.id].median_resolution_s == median(120) and rows[demo.admin.id].mean_resolution_s == 260 * 60
        assert rows[bea.id].median_resolution_s == median(30)
        assert report.total.median_resolution_s == median(120) and report.weeks[0].median_resolution_s == median(120)

        clock.set_clock(lambda: T0 + timedelta(minutes=3100))
        await login(http, server.url, demo.admin.email)
        async with http.get(f"{server.url}/workbench/reports?weeks=1") as resp:
            assert resp.status == 200
            page = await resp.text()
        ann_row = page[page.index(f'data-agent="{demo.admin.id}"'):]
        ann_row = ann_row[:ann_row.index("</tr>")]
        assert f'class="median-resolution">{round(median(120) / 3600, 1)} h' in ann_row
        assert "Median resolution time per agent (h)" in page and "Bea Quick" in page
        async with http.get(f"{server.url}/workbench/reports?weeks=1", headers={"Accept-Language": "zh-CN"}) as resp:
            chinese = await resp.text()
        assert "各客服解决时长中位数（小时）" in chinese and "Median resolution" not in chinese  # the charts' titles too
        async with http.get(f"{server.url}/workbench/reports.csv?weeks=1") as resp:
            table = list(csv.DictReader(io.StringIO(await resp.text())))
        by_agent = {row["key"]: row for row in table if row["scope"] == "agent"}
        assert by_agent["Bea Quick"]["median_resolution_seconds"] == str(median(30))
        assert by_agent["Bea Quick"]["mean_resolution_seconds"] == str(1515 * 60)

        async with transaction(server.ctx.factory) as session:  # reopened: 600 min no longer counts for Ann
            order = await session.get(WorkOrder, ann_orders[2])
            assert order is not None
            await change_status(session=session, settings=server.ctx.settings, order=order, status="open", agent=demo.admin)
        async with server.ctx.factory() as session:
            report = await build_report(session=session, org_id=demo.org.id, since=WEEK, until=WEEK)
        assert {row.key: row for row in report.agents}[demo.admin.id].median_resolution_s == median(60)  # lower median
    finally:
        await server.stop()
