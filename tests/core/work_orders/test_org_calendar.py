"""Each organization's business calendar: its timezone and hours decide SLA due times and rights-request deadlines;
a change of hours applies from then on (stored due times stay, the next change counts in the new hours); the
sweep builds one calendar per organization, not one per row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import update

from bot.core.business_time import orgs as org_time
from bot.core.common import clock
from bot.core.conversations.models import Conversation
from bot.core.orgs.models import Agent
from bot.core.rights.requests import mark_verified, open_request
from bot.core.storage.db import transaction
from bot.core.work_orders.changes import change_status
from bot.core.work_orders.clocks import start_new_clocks
from bot.core.work_orders.models import WorkOrder
from bot.core.work_orders.services import open_work_order
from tests.conftest import Server, make_settings, start_server
from tests.utils.factories import make_org
from tests.utils.work_orders import make_customer

T0 = datetime(2026, 3, 2, 9, 0)  # Monday 09:00 UTC: 17:00 in Shanghai, 04:00 in New York
WEEKDAYS_9_TO_18 = {day: "09:00-18:00" for day in ("mon", "tue", "wed", "thu", "fri")}


async def _set(server: Server, admin: Agent, timezone: str, hours: dict[str, str] | None = None) -> None:
    async with transaction(server.ctx.factory) as session:
        await org_time.set_business_hours(session=session, actor=admin, settings=server.ctx.settings, timezone=timezone,
                                          hours=hours, country=None)


async def _urgent_order(server: Server, org_id: int, external_id: str) -> WorkOrder:
    customer, conversation = await make_customer(server.ctx.factory, org_id, external_id=external_id)
    async with transaction(server.ctx.factory) as session:
        return await open_work_order(session=session, settings=server.ctx.settings, customer=customer, category="billing",
                                     description="Charged twice", conversation=conversation, priority="urgent")  # 240 min


def _utc(local: datetime, zone: str) -> datetime:
    return local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC).replace(tzinfo=None)


async def test_two_timezones_give_different_due_times_for_the_same_start(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(db_url, tmp_path / "data", business_time={"timezone": "UTC"})  # Mon-Fri 09-18
    clock.set_clock(lambda: T0)
    server = await start_server(settings)
    try:
        east, west = await make_org(server.ctx.factory), await make_org(server.ctx.factory, slug="west")
        await _set(server, east.admin, "Asia/Shanghai")
        await _set(server, west.admin, "America/New_York")
        east_order, west_order = await _urgent_order(server, east.org.id, "e1"), await _urgent_order(server, west.org.id, "w1")
        # Shanghai: 1 h left on Monday (17-18), 3 h on Tuesday from 09:00; New York: 4 h from Monday 09:00 local.
        assert east_order.due_at == _utc(datetime(2026, 3, 3, 12, 0), "Asia/Shanghai") == datetime(2026, 3, 3, 4, 0)
        assert west_order.due_at == _utc(datetime(2026, 3, 2, 13, 0), "America/New_York") == datetime(2026, 3, 2, 18, 0)

        dues = []  # rights requests: 15 calendar days, ending at local midnight
        for demo, external_id in ((east, "e1"), (west, "w1")):
            customer, _ = await make_customer(server.ctx.factory, demo.org.id, external_id=external_id)
            async with transaction(server.ctx.factory) as session:
                request = await open_request(session=session, settings=settings, org_id=demo.org.id, customer_id=customer.id,
                                             identity_id=None, kind="review")
                dues.append((await mark_verified(session=session, settings=settings, request=request)).due_at)
        assert dues == [_utc(datetime(2026, 3, 18), "Asia/Shanghai"), _utc(datetime(2026, 3, 18), "America/New_York")]
    finally:
        await server.stop()


async def test_a_change_of_hours_applies_from_then_on(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(db_url, tmp_path / "data", business_time={"timezone": "UTC"})
    clock.set_clock(lambda: T0)
    server = await start_server(settings)
    try:
        demo = await make_org(server.ctx.factory)
        await _set(server, demo.admin, "Asia/Shanghai")
        old = await _urgent_order(server, demo.org.id, "c1")
        old_due = old.due_at
        assert old_due is not None
        await _set(server, demo.admin, "Asia/Shanghai", {**WEEKDAYS_9_TO_18, "mon": "08:00-20:00", "tue": "08:00-20:00"})
        new = await _urgent_order(server, demo.org.id, "c2")
        assert new.due_at == _utc(datetime(2026, 3, 3, 9, 0), "Asia/Shanghai")  # 3 h Monday until 20:00, 1 h from 08:00
        async with server.ctx.factory() as session:
            stored = await session.get(WorkOrder, old.id)
            assert stored is not None and stored.due_at == old_due  # Zendesk's way: no silent recomputation

        async def move(status: str, at: datetime) -> WorkOrder:
            clock.set_clock(lambda: at)
            async with transaction(server.ctx.factory) as session:
                order = await session.get(WorkOrder, old.id)
                assert order is not None
                return await change_status(session=session, settings=settings, order=order, status=status, agent=demo.admin)

        await move("open", T0)
        await move("pending", _utc(datetime(2026, 3, 2, 18, 30), "Asia/Shanghai"))  # closed under the old hours
        resumed = await move("open", _utc(datetime(2026, 3, 2, 19, 30), "Asia/Shanghai"))
        assert resumed.due_at == old_due + timedelta(hours=1)  # the pause counted in the new hours (open till 20:00)
    finally:
        await server.stop()


async def test_the_sweep_builds_one_calendar_per_organization(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(db_url, tmp_path / "data", business_time={"timezone": "UTC"})
    clock.set_clock(lambda: T0)
    server = await start_server(settings)
    try:
        demo = await make_org(server.ctx.factory)
        await _set(server, demo.admin, "Europe/Berlin", {"mon": "07:00-19:00", "tue": "07:00-19:00"})
        for n in range(12):
            await make_customer(server.ctx.factory, demo.org.id, external_id=f"c{n}")
        async with transaction(server.ctx.factory) as session:  # twelve customers waiting since T0
            await session.execute(update(Conversation).values(waiting_since=T0, status="open"))
        org_time._build.cache_clear()
        async with transaction(server.ctx.factory) as session:
            assert await start_new_clocks(session=session, settings=settings, stamp=T0) == 12
        assert org_time._build.cache_info().misses == 1  # Berlin's calendar, built once for twelve clocks
    finally:
        await server.stop()
