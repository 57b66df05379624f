"""Nothing lost across a restart: pending and in-flight outbox items are delivered exactly once afterwards."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.core.common import clock
from bot.core.delivery.models import OutboxItem
from bot.core.delivery.outbox import enqueue
from bot.core.storage.db import transaction
from tests.conftest import make_settings, start_server


class StuckSender:
    """A platform that accepts the connection and never answers (the process dies meanwhile)."""

    channel = "probe"

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def send(self, target: str, payload: dict[str, Any]) -> str | None:
        self.started.set()
        await asyncio.Event().wait()
        return None


class RecordingSender:
    channel = "probe"

    def __init__(self) -> None:
        self.delivered: list[tuple[str, str]] = []

    async def send(self, target: str, payload: dict[str, Any]) -> str | None:
        self.delivered.append((target, payload["text"]))
        return f"p{len(self.delivered)}"


async def test_pending_items_are_delivered_once_after_restart(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(db_url, tmp_path / "data")
    first = await start_server(settings)
    stuck = StuckSender()
    first.ctx.dispatcher.add_sender(stuck)
    async with transaction(first.ctx.factory) as session:
        for n in range(30):
            await enqueue(session=session, channel="probe", target=f"chat{n % 3}", payload={"text": f"m{n}"},
                          idempotency_key=f"restart-{n}")
    first.ctx.dispatcher.wake()
    await asyncio.wait_for(stuck.started.wait(), 5)
    await first.stop()  # "killed" with one item in flight and the rest pending

    # After the lease of the in-flight items has run out, a new process picks everything up.
    # The clock runs on (skipped ahead, not frozen): the new dispatcher may claim items before the recording
    # sender is added and reschedule them a moment later, which a frozen clock would never reach (a busy-machine flake).
    ahead = timedelta(seconds=settings.outbox.lease_seconds + 1)
    clock.set_clock(lambda: datetime.now(UTC).replace(tzinfo=None) + ahead)
    second = await start_server(settings)
    recorder = RecordingSender()
    second.ctx.dispatcher.add_sender(recorder)
    second.ctx.dispatcher.wake()
    try:
        deadline = asyncio.get_running_loop().time() + 20
        while True:  # a condition with a deadline, not a fixed number of short sleeps
            if len(recorder.delivered) >= 30 or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)  # a duplicate would show up here
        async with second.ctx.factory() as session:
            states = (await session.scalars(select(OutboxItem.state))).all()
    finally:
        await second.stop()
    assert sorted(text for _, text in recorder.delivered) == sorted(f"m{n}" for n in range(30))
    for chat in ("chat0", "chat1", "chat2"):  # per-target order kept
        texts = [int(t[1:]) for target, t in recorder.delivered if target == chat]
        assert texts == sorted(texts)
    assert set(states) == {"sent"}


async def test_same_idempotency_key_is_queued_once(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(db_url, tmp_path / "data")
    srv = await start_server(settings)
    try:
        async with transaction(srv.ctx.factory) as session:
            a = await enqueue(session=session, channel="probe", target="x", payload={"text": "1"}, idempotency_key="k")
            b = await enqueue(session=session, channel="probe", target="x", payload={"text": "1"}, idempotency_key="k")
        assert a.id == b.id
    finally:
        await srv.stop()
