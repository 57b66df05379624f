"""Pacing is not failing: waiting for a slot costs no attempt, a backlog waits in pending, age ends what never goes."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import event, func, select

from bot.core.common import clock
from bot.core.common.metrics import REGISTRY
from bot.core.conversations.models import Message
from bot.core.delivery.models import OutboxItem
from bot.core.delivery.senders import Paced, RetryLater
from bot.core.notifications.models import NotificationEvent
from tests.conftest import Server, make_settings, start_server
from tests.utils.chats import broadcast, make_chats, wait_states
from tests.utils.factories import make_org


class SlowChannel:
    """A channel that can take `window` items at once and asks to be asked again `pace` times per item first."""

    channel = "probe"

    def __init__(self, window: int, pace: int = 0) -> None:
        self.window, self.pace = window, pace
        self.calls: Counter[str] = Counter()
        self.delivered: Counter[str] = Counter()
        self.in_hand = 0
        self.most_in_hand = 0
        self.go = asyncio.Event()
        self.go.set()

    def claim_limit(self, lease_seconds: float) -> int:
        return self.window

    async def send(self, target: str, payload: dict[str, Any]) -> str | None:
        self.calls[target] += 1
        self.in_hand += 1
        self.most_in_hand = max(self.most_in_hand, self.in_hand)
        try:
            await self.go.wait()
            if self.calls[target] <= self.pace:
                raise Paced("no slot yet", 0.01)
            self.delivered[target] += 1
            return None
        finally:
            self.in_hand -= 1


class PacedOnce(SlowChannel):
    """The first target's first send is paced at once (no slot yet); every other send waits for `go`."""

    def __init__(self, window: int) -> None:
        super().__init__(window)
        self.order: list[str] = []

    async def send(self, target: str, payload: dict[str, Any]) -> str | None:
        self.calls[target] += 1
        if target == "c0" and self.calls[target] == 1:
            raise Paced("no slot yet", 0.0)
        await self.go.wait()
        self.order.append(target)
        return None


class Down:
    channel = "probe"

    def __init__(self) -> None:
        self.calls = 0

    async def send(self, target: str, payload: dict[str, Any]) -> str | None:
        self.calls += 1
        raise RetryLater("platform down")


@pytest.fixture
async def start(db_url: str, tmp_path: Path) -> AsyncIterator[Any]:
    servers: list[Server] = []

    async def go(**outbox: Any) -> Server:
        config = {"poll_seconds": 0.05, "backoff_base_seconds": 0.05, "backoff_max_seconds": 0.2, **outbox}
        servers.append(await start_server(make_settings(db_url, tmp_path / "data", outbox=config)))
        return servers[-1]

    yield go
    for server in servers:
        await server.stop()


async def held_backlog(start: Any, channel: SlowChannel, **outbox: Any) -> tuple[Server, Any, list[str]]:
    """A server whose channel holds every send until `channel.go` is set, with a notice queued to 40 chats."""
    srv = await start(**outbox)
    demo = await make_org(srv.ctx.factory)
    channel.go.clear()
    srv.ctx.dispatcher.add_sender(channel)
    chats = [f"c{n}" for n in range(40)]
    await broadcast(srv.ctx.factory, await make_chats(srv.ctx.factory, demo.org.id, "probe", chats), "notice")
    srv.ctx.dispatcher.wake()
    return srv, channel, chats


async def metrics_text(server: Server) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/metrics") as resp:
        return await resp.text()


async def test_waiting_for_a_slot_is_not_an_attempt(start: Any) -> None:
    srv = await start(max_attempts=1)
    paced_before = REGISTRY.get_sample_value("incs_outbound_messages_total", {"channel": "probe", "result": "paced"}) or 0
    demo = await make_org(srv.ctx.factory)
    channel = SlowChannel(window=3, pace=5)  # every item is paced five times; one failed attempt would end it
    srv.ctx.dispatcher.add_sender(channel)
    chats = [f"c{n}" for n in range(12)]
    await broadcast(srv.ctx.factory, await make_chats(srv.ctx.factory, demo.org.id, "probe", chats), "notice")
    srv.ctx.dispatcher.wake()

    assert await wait_states(srv.ctx.factory, "probe", {"sent": 12}, timeout=20) == {"sent": 12}
    assert channel.delivered == Counter({chat: 1 for chat in chats})
    assert channel.most_in_hand <= 3
    async with srv.ctx.factory() as session:
        assert set((await session.scalars(select(OutboxItem.attempts))).all()) == {0}
    text = await metrics_text(srv)
    assert 'incs_outbound_messages_total{channel="probe",result="paced"}' in text
    paced = REGISTRY.get_sample_value("incs_outbound_messages_total", {"channel": "probe", "result": "paced"})
    assert paced == paced_before + 60
    assert 'incs_outbox_sends_per_item_bucket{channel="probe",le="1.0"}' in text


async def test_a_backlog_waits_in_pending_not_in_repeated_claims(start: Any) -> None:
    srv, channel, chats = await held_backlog(start, SlowChannel(window=4), lease_seconds=30)

    held = await wait_states(srv.ctx.factory, "probe", {"sending": 4, "pending": 36}, timeout=10)
    assert held == {"sending": 4, "pending": 36}, "the channel was handed more than it can send"
    text = await metrics_text(srv)
    assert 'incs_outbox_items{channel="probe",state="pending"} 36.0' in text
    assert "incs_outbox_oldest_pending_seconds" in text
    channel.go.set()
    assert await wait_states(srv.ctx.factory, "probe", {"sent": 40}, timeout=20) == {"sent": 40}
    assert channel.calls == Counter({chat: 1 for chat in chats}) and channel.most_in_hand <= 4


async def test_a_paced_item_keeps_its_turn_and_is_not_sent_after_the_backlog(start: Any) -> None:
    """An item sent back to wait (a rate limit, a retry_after) is claimed first once due, even if claims ran
    meanwhile without room for its channel; in due order it would queue behind every item of the backlog."""
    srv, channel, _ = await held_backlog(start, PacedOnce(window=4), lease_seconds=30, poll_seconds=10)

    held = await wait_states(srv.ctx.factory, "probe", {"sending": 3, "pending": 37}, timeout=10)
    assert held == {"sending": 3, "pending": 37} and channel.calls["c0"] == 1  # c0 paced back, c1-c3 in hand
    await srv.ctx.dispatcher.run_once(wait=False)  # a round with no room for the channel (others may have some)
    channel.go.set()
    assert await wait_states(srv.ctx.factory, "probe", {"sent": 40}, timeout=20) == {"sent": 40}
    assert channel.order.index("c0") < 4 + 2, f"c0 went out as send {channel.order.index('c0') + 1} of 40"


async def test_an_item_older_than_max_age_fails_and_admins_hear_it_once(start: Any) -> None:
    srv = await start(max_attempts=100, max_age_seconds=60)
    demo = await make_org(srv.ctx.factory)
    down = Down()
    srv.ctx.dispatcher.add_sender(down)
    await broadcast(srv.ctx.factory, await make_chats(srv.ctx.factory, demo.org.id, "probe", ["a", "b", "c"]), "notice")
    srv.ctx.dispatcher.wake()
    for _ in range(300):  # each has failed at least once, and is waiting to be retried
        async with srv.ctx.factory() as session:
            tried = await session.scalar(select(func.count()).select_from(OutboxItem).where(OutboxItem.attempts >= 1))
        if tried == 3:
            break
        await asyncio.sleep(0.02)
    assert tried == 3

    # Two minutes pass at once, and the clock goes on from there: a retry decided just before the jump and written just
    # after it is due 0.1 s after the jump (a clock stopped at the jump would never reach that).
    jumped, since = clock.now() + timedelta(seconds=120), time.monotonic()
    clock.set_clock(lambda: jumped + timedelta(seconds=time.monotonic() - since))
    srv.ctx.dispatcher.wake()
    assert await wait_states(srv.ctx.factory, "probe", {"failed": 3}, timeout=10) == {"failed": 3}
    failing = select(func.count()).select_from(NotificationEvent).where(NotificationEvent.kind == "delivery_failing")
    for _ in range(500):  # the push is raised after the failure is recorded, in its own transaction
        async with srv.ctx.factory() as session:
            if await session.scalar(failing):
                break
        await asyncio.sleep(0.02)
    await asyncio.gather(*srv.ctx.dispatcher._inflight.values())  # the other items' (deduplicated) pushes too
    async with srv.ctx.factory() as session:
        events = (await session.scalars(select(NotificationEvent).where(NotificationEvent.kind == "delivery_failing"))).all()
        errors = set((await session.scalars(select(OutboxItem.last_error))).all())
        copies = set((await session.scalars(select(Message.delivery_state).where(Message.direction == "out"))).all())
    assert len(events) == 1 and events[0].org_id == demo.org.id and events[0].detail["channel"] == "probe"
    assert all("max_age_seconds" in e for e in errors) and copies == {"failed"}
    assert 'incs_outbox_items{channel="probe",state="failed"} 3.0' in await metrics_text(srv)


async def _rounds(dispatcher: Any, kind: str, more_than: int) -> None:
    async with asyncio.timeout(10):
        while dispatcher.rounds[kind] <= more_than:  # noqa: ASYNC110 - the loop runs in this event loop: look again
            await asyncio.sleep(0.01)


async def test_a_wake_up_for_a_channel_with_no_room_makes_no_claim_and_one_for_a_channel_with_room_does(start: Any) -> None:
    """The ingest writer wakes the dispatcher for the channels it queued for: under a burst at Telegram's limits that
    is a wake-up per batch for a channel whose window is in hand, each a claim that could take nothing (a transaction,
    a look at the outbox) while the webhook waited for the event loop."""
    srv, channel, _ = await held_backlog(start, SlowChannel(window=4), lease_seconds=30, poll_seconds=30)
    assert await wait_states(srv.ctx.factory, "probe", {"sending": 4, "pending": 36}, timeout=10) == {"sending": 4, "pending": 36}
    dispatcher = srv.ctx.dispatcher
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "outbox" in statement:
            statements.append(statement)

    event.listen(srv.ctx.engine.sync_engine, "before_cursor_execute", seen)
    try:
        skipped = dispatcher.rounds["skipped"]
        dispatcher.wake(["probe"])
        await _rounds(dispatcher, "skipped", skipped)
        assert statements == [], "a round for a channel with no room read the outbox"

        claimed = dispatcher.rounds["claimed"]
        dispatcher.wake(["probe", "webchat"])  # one of them has room: a claim
        await _rounds(dispatcher, "claimed", claimed)
        assert statements, "a wake-up for a channel with room made no claim"
    finally:
        event.remove(srv.ctx.engine.sync_engine, "before_cursor_execute", seen)
    channel.go.set()
    assert await wait_states(srv.ctx.factory, "probe", {"sent": 40}, timeout=20) == {"sent": 40}
