"""With the clock controlled: a work order passes at-risk then breach, one push each, across a restart and two processes."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from bot.core.common import clock
from bot.core.notifications.models import NotificationEvent, NotificationPush
from bot.core.storage.db import transaction
from bot.core.work_orders.changes import change_priority, change_status
from bot.core.work_orders.services import get_work_order, open_work_order
from bot.core.work_orders.sweeps import sweep_sla
from tests.conftest import Server, start_server
from tests.utils.factories import make_org
from tests.utils.work_orders import make_customer, sla_settings

T0 = datetime(2026, 3, 2, 9, 0)  # a Monday


def at(minutes: float) -> None:
    clock.set_clock(lambda: T0 + timedelta(minutes=minutes))


async def pushes(server: Server, kind: str) -> tuple[int, int]:
    async with server.ctx.factory() as session:
        events = await session.scalar(select(func.count()).select_from(NotificationEvent).where(NotificationEvent.kind == kind))
        sent = await session.scalar(
            select(func.count()).select_from(NotificationPush).join(NotificationEvent, NotificationEvent.id == NotificationPush.event_id)
            .where(NotificationEvent.kind == kind)
        )
    return int(events or 0), int(sent or 0)


async def test_at_risk_then_breach_once_each_across_restart_and_two_processes(db_url: str, tmp_path: Path) -> None:
    settings = sla_settings(db_url, tmp_path / "data")  # urgent resolution: 240 min, at risk at 80%
    at(0)
    first = await start_server(settings)
    try:
        demo = await make_org(first.ctx.factory)
        customer, conversation = await make_customer(first.ctx.factory, demo.org.id)
        async with transaction(first.ctx.factory) as session:
            order = await open_work_order(session=session, settings=settings, customer=customer, category="billing",
                                          description="Charged twice", conversation=conversation, priority="urgent")
            number = order.number
        assert order.label == "WO-000001"
        assert order.due_at == T0 + timedelta(minutes=240) and order.risk_at == T0 + timedelta(minutes=192)
        assert await pushes(first, "work_order_new") == (1, 1)

        at(191)
        assert await sweep_sla(factory=first.ctx.factory, settings=settings) == 0
        at(193)
        assert await sweep_sla(factory=first.ctx.factory, settings=settings) == 1
        assert await sweep_sla(factory=first.ctx.factory, settings=settings) == 0
        assert await pushes(first, "sla_at_risk") == (1, 1)
    finally:
        await first.stop()

    second, third = await start_server(settings), await start_server(settings)  # a restart, and a second process
    try:
        assert await sweep_sla(factory=second.ctx.factory, settings=settings) == 0
        at(241)
        raised = await asyncio.gather(
            sweep_sla(factory=second.ctx.factory, settings=settings), sweep_sla(factory=third.ctx.factory, settings=settings)
        )
        assert sorted(raised) == [0, 1]
        assert await pushes(second, "sla_breached") == (1, 1)
        assert await pushes(second, "sla_at_risk") == (1, 1)
        at(300)
        assert await sweep_sla(factory=third.ctx.factory, settings=settings) == 0

        # A breached clock stays breached: pausing and a new priority do not move the passed due time.
        async with transaction(second.ctx.factory) as session:
            order = await get_work_order(session=session, org_id=demo.org.id, label=number)
            await change_status(session=session, settings=settings, order=order, status="pending", agent=demo.admin)
            await change_priority(session=session, settings=settings, order=order, priority="low", agent=demo.admin)
        assert await sweep_sla(factory=second.ctx.factory, settings=settings) == 0
        assert await pushes(second, "sla_breached") == (1, 1)
    finally:
        await second.stop()
        await third.stop()
