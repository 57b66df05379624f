"""A daily digest missed while the process was down goes out at start-up, once; the Telegram journal purge is scheduled."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from bot.channels.telegram.models import TelegramSent
from bot.core.common import clock
from bot.core.delivery.models import OutboxItem
from bot.core.notifications.fanout import NotificationKind, raise_event
from bot.core.notifications.models import NotificationTarget
from bot.core.notifications.sweeps import last_digest_time
from bot.core.storage.db import transaction
from tests.conftest import make_settings, start_server
from tests.utils.factories import make_org


def test_last_digest_time() -> None:
    assert last_digest_time("08:00", datetime(2026, 11, 30, 9, 15)) == datetime(2026, 11, 30, 8, 0)
    assert last_digest_time("08:00", datetime(2026, 11, 30, 7, 59)) == datetime(2026, 11, 29, 8, 0)


async def test_a_digest_missed_while_down_is_sent_at_start_once(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(db_url, tmp_path / "data", notifications={"sweep_seconds": 3600, "digest_time": "08:00"})
    morning = datetime(2026, 11, 30, 7, 0)
    clock.set_clock(lambda: morning)
    first = await start_server(settings)
    demo = await make_org(first.ctx.factory, slug="demo")
    async with transaction(first.ctx.factory) as session:
        session.add(NotificationTarget(org_id=demo.org.id, agent_id=demo.admin.id, kind="email", address="ops@example.com",
                                       verified_at=morning))
        await raise_event(session=session, org_id=demo.org.id, kind=NotificationKind.CONVERSATION_WAITING, subject_type="x",
                          subject_id=1, title="waiting", url="/workbench", dedup_key="catchup:1", settings=settings)
    await first.stop()  # down from 07:00 ...
    clock.set_clock(lambda: morning + timedelta(hours=3))  # ... to 10:00: the 08:00 digest never ran
    await (await start_server(settings)).stop()
    server = await start_server(settings)  # started again (a restart, or a second process): still one digest
    try:
        async with server.ctx.factory() as session:
            keys = (await session.scalars(select(OutboxItem.idempotency_key).where(OutboxItem.channel == "email-push"))).all()
    finally:
        await server.stop()
    digests = [k for k in keys if k.startswith("digest")]
    assert len(digests) == 1 and "2026-11-30" in digests[0]


async def test_the_telegram_send_journal_purge_is_scheduled(sqlite_url: str, tmp_path: Path) -> None:
    from tests.fakes.telegram_api import TOKEN, FakeTelegram

    fake = await FakeTelegram().start()
    settings = make_settings(sqlite_url, tmp_path / "data",
                             channels={"telegram": {"token": TOKEN, "api_base": fake.url, "poll_timeout_seconds": 1}})
    server = await start_server(settings)
    try:
        scheduler = server.ctx.services["scheduler"]
        assert "telegram.journal_purge" in scheduler.job_names
        async with transaction(server.ctx.factory) as session:
            session.add(TelegramSent(key="old", sent_at=clock.now() - timedelta(days=30)))
            session.add(TelegramSent(key="new", sent_at=clock.now()))
        await server.ctx.services["telegram"].purge_journal()
        async with server.ctx.factory() as session:
            assert (await session.scalars(select(TelegramSent.key))).all() == ["new"]
    finally:
        await server.stop()
        await fake.stop()
