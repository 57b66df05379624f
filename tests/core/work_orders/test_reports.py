"""Report counters: a resolution counts for the agent it was assigned to, a reopen takes it back, medians are
read from 5% buckets, CSAT answers count once; the report reads counters only."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common import clock
from bot.core.storage.db import transaction
from bot.core.work_orders.changes import assign_work_order, change_status
from bot.core.work_orders.csat import record_csat
from bot.core.work_orders.models import WorkOrder
from bot.core.work_orders.reports import build_report
from bot.core.work_orders.services import open_work_order
from tests.conftest import start_server
from tests.utils.factories import make_org
from tests.utils.work_orders import at, make_customer, sla_settings

T0 = datetime(2026, 3, 2, 9, 0)  # Monday


async def _get(session: AsyncSession, order_id: int) -> WorkOrder:
    order = await session.get(WorkOrder, order_id)
    assert order is not None
    return order


async def test_resolve_reopen_and_rate_are_counted_once(db_url: str, tmp_path: Path) -> None:
    settings = sla_settings(db_url, tmp_path / "data")
    clock.set_clock(lambda: T0)
    server = await start_server(settings)
    try:
        demo = await make_org(server.ctx.factory)
        customer, conversation = await make_customer(server.ctx.factory, demo.org.id)
        async with transaction(server.ctx.factory) as session:
            orders = [await open_work_order(session=session, settings=settings, customer=customer, category="billing",
                                            description=f"Problem {n}", conversation=conversation) for n in range(3)]
            await assign_work_order(session=session, order=orders[0], assignee_id=demo.admin.id, agent=demo.admin)
            ids = [o.id for o in orders]
        for n, minutes in enumerate((60, 120, 3000)):  # normal target 1440: the third misses it
            at(T0 + timedelta(minutes=minutes))
            async with transaction(server.ctx.factory) as session:
                await change_status(session=session, settings=settings, order=await _get(session, ids[n]), status="resolved",
                                    agent=demo.admin)
        async with transaction(server.ctx.factory) as session:
            order = await _get(session, ids[1])
            await change_status(session=session, settings=settings, order=order, status="open", agent=demo.admin)  # reopened
            await record_csat(session=session, org_id=demo.org.id, customer_id=customer.id, subject_type="work_order",
                              subject_id=ids[0], rating=5)
        async with server.ctx.factory() as session:
            report = await build_report(session=session, org_id=demo.org.id, since=date(2026, 2, 23), until=date(2026, 3, 2))
        total = report.total
        assert (total.resolved, total.resolved_met) == (2, 1) and total.sla_percent == 50.0
        assert total.median_resolution_s is not None and abs(total.median_resolution_s - 3600) <= 0.03 * 3600
        by_agent = {row.key: row for row in report.agents}
        assert by_agent[demo.admin.id].resolved == 1 and by_agent[demo.admin.id].csat_average == 5.0
        assert by_agent[None].resolved == 1 and by_agent[None].mean_resolution_s == 3000 * 60
        assert report.distribution == {1: 0, 2: 0, 3: 0, 4: 0, 5: 1}
        assert [row.key for row in report.weeks] == ["2026-03-02"]
    finally:
        await server.stop()
