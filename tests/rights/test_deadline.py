"""Deadline arithmetic with pause and one extension, in calendar and working days, on a controlled clock; and
reminders raised once each (5 and 2 days left, due today, overdue), also across a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.config import Settings
from bot.core.common import clock
from bot.core.common.errors import Conflict, InvalidInput
from bot.core.notifications.fanout import render_push
from bot.core.notifications.models import NotificationEvent, NotificationPush
from bot.core.rights.models import RightsRequest
from bot.core.rights.reminders import sweep_reminders
from bot.core.rights.requests import change_status, extend, mark_verified, open_request
from bot.core.storage.db import SessionFactory, create_engine, session_factory, transaction
from tests.conftest import make_settings
from tests.utils.factories import OrgWithAdmin, make_org


class Clock:
    def __init__(self, start: datetime) -> None:
        self.at = start
        clock.set_clock(lambda: self.at)


@pytest.fixture
async def factory(db_url: str) -> AsyncIterator[SessionFactory]:
    engine = create_engine(db_url)
    yield session_factory(engine)
    await engine.dispose()


def _settings(db_url: str, tmp_path: Path, mode: str) -> Settings:
    return make_settings(db_url, tmp_path, privacy={"deadline_days": mode},
                         business_time={"holidays": ["2026-03-10"]})


async def _customer(factory: SessionFactory) -> tuple[OrgWithAdmin, int]:
    from bot.core.conversations.models import Customer

    org = await make_org(factory)
    async with transaction(factory) as session:
        customer = Customer(org_id=org.org.id, name="C")
        session.add(customer)
        await session.flush()
        return org, customer.id


async def _new(factory: SessionFactory, settings: Settings, org: OrgWithAdmin, customer_id: int) -> int:
    async with transaction(factory) as session:
        request = await open_request(session=session, settings=settings, org_id=org.org.id, customer_id=customer_id,
                                     identity_id=None, kind="export")
        await mark_verified(session=session, settings=settings, request=request)
        return request.id


async def _move(factory: SessionFactory, settings: Settings, request_id: int, to: str) -> datetime | None:
    async with transaction(factory) as session:
        request = await session.get(RightsRequest, request_id)
        assert request is not None
        await change_status(session=session, settings=settings, request=request, to=to, actor_type="agent", actor_id=1)
        return request.due_at


@pytest.mark.parametrize(("mode", "due", "after_pause", "after_extension"), [
    # calendar: Fri 6 March + 15 days = end of Sat 21 March; paused Mon 9 -> Thu 12 (3 days); +15 extension
    ("calendar", datetime(2026, 3, 22), datetime(2026, 3, 25), datetime(2026, 4, 9)),
    # working: 15 working days after Fri 6 March, Tue 10 March a holiday -> end of Mon 30 March;
    # paused Mon 9 -> Thu 12 counts Wed 11 and Thu 12 (2 working days); +15 working days
    ("working", datetime(2026, 3, 31), datetime(2026, 4, 2), datetime(2026, 4, 23)),
])
async def test_due_date_with_pause_and_one_extension(
    db_url: str, tmp_path: Path, factory: SessionFactory, mode: str, due: datetime, after_pause: datetime,
    after_extension: datetime,
) -> None:
    settings = _settings(db_url, tmp_path, mode)
    now = Clock(datetime(2026, 3, 6, 10, 0))
    org, customer_id = await _customer(factory)
    request_id = await _new(factory, settings, org, customer_id)
    async with factory() as session:
        request = await session.get(RightsRequest, request_id)
        assert request is not None and request.due_at == due and request.number == 1
    now.at = datetime(2026, 3, 9, 11, 0)
    assert await _move(factory, settings, request_id, "awaiting_customer") == due
    now.at = datetime(2026, 3, 12, 16, 0)
    assert await _move(factory, settings, request_id, "in_progress") == after_pause
    async with transaction(factory) as session:
        request = await session.get(RightsRequest, request_id)
        assert request is not None
        with pytest.raises(InvalidInput):
            await extend(session=session, settings=settings, request=request, agent_id=org.admin.id, reason=" ")
        await extend(session=session, settings=settings, request=request, agent_id=org.admin.id, reason="large archive")
        assert request.due_at == after_extension
        with pytest.raises(Conflict):
            await extend(session=session, settings=settings, request=request, agent_id=org.admin.id, reason="again")


async def _reminders(factory: SessionFactory) -> list[tuple[str, int]]:
    async with factory() as session:
        rows = await session.execute(select(NotificationEvent.kind, func.count(NotificationPush.id))
                                     .join(NotificationPush, NotificationPush.event_id == NotificationEvent.id)
                                     .group_by(NotificationEvent.id, NotificationEvent.kind).order_by(NotificationEvent.id))
        return [(kind, int(count)) for kind, count in rows.all()]


async def test_each_reminder_is_pushed_once_per_target_across_a_restart(db_url: str, tmp_path: Path) -> None:
    settings = _settings(db_url, tmp_path, "calendar")
    now = Clock(datetime(2026, 3, 6, 10, 0))
    engine = create_engine(db_url)
    factory = session_factory(engine)
    org, customer_id = await _customer(factory)
    request_id = await _new(factory, settings, org, customer_id)  # due end of 21 March
    async with transaction(factory) as session:
        request = await session.get(RightsRequest, request_id)
        assert request is not None
        request.assignee_id = org.admin.id
    assert await _reminders(factory) == [("rights_request_received", 1)]
    steps = [(datetime(2026, 3, 15, 9), 0), (datetime(2026, 3, 16, 9), 1), (datetime(2026, 3, 17, 9), 0),
             (datetime(2026, 3, 19, 9), 1), (datetime(2026, 3, 21, 9), 1), (datetime(2026, 3, 21, 23), 0),
             (datetime(2026, 3, 22, 9), 1), (datetime(2026, 3, 25, 9), 0)]
    for moment, expected in steps:
        now.at = moment
        assert await sweep_reminders(factory=factory, settings=settings) == expected, moment
        await engine.dispose()  # a restart between runs: only the database remembers
        engine = create_engine(db_url)
        factory = session_factory(engine)
        assert await sweep_reminders(factory=factory, settings=settings) == 0, moment
    kinds = await _reminders(factory)
    assert [k for k, _ in kinds] == ["rights_request_received", "rights_request_due_soon", "rights_request_due_soon",
                                     "rights_request_due_soon", "rights_request_overdue"]
    assert all(count == 1 for _, count in kinds)  # one admin (also the assignee): one push each
    async with factory() as session:
        details = (await session.scalars(select(NotificationEvent.detail).where(
            NotificationEvent.kind == "rights_request_due_soon").order_by(NotificationEvent.id))).all()
    assert [d["days_left"] for d in details] == [5, 2, 0]
    assert "due in 5 days" in render_push("rights_request_due_soon", "en", title="RR-000001", link="", detail=details[0])
    assert "due today" in render_push("rights_request_due_soon", "en", title="RR-000001", link="", detail=details[2])
    assert "2 天后到期" in render_push("rights_request_due_soon", "zh", title="RR-000001", link="", detail=details[1])
    await engine.dispose()
