"""One outcome that cannot be written spoils only itself: the rest of its batch is recorded, nothing is sent twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from bot.core.common import clock
from bot.core.conversations.models import ChannelIdentity, Message
from bot.core.delivery.models import OutboxItem
from bot.core.storage.db import transaction
from tests.conftest import Server, make_settings, start_server
from tests.utils.chats import broadcast, make_chats, wait_states
from tests.utils.factories import make_org

LEASE = 0.5


class BarrierSender:
    """Answers all of `expect` sends at the same moment, so that their outcomes are written as one batch."""

    channel = "probe"

    def __init__(self, expect: int, platform_id: Any = None) -> None:
        self.expect = expect
        self.calls: Counter[str] = Counter()
        self.platform_id = platform_id or (lambda target: f"out-{target}")
        self._all_in = asyncio.Event()
        self.go = asyncio.Event()  # set by the test once the fault is in place: no outcome is written before it

    async def send(self, target: str, payload: dict[str, Any]) -> str | None:
        self.calls[target] += 1
        if sum(self.calls.values()) >= self.expect:
            self._all_in.set()
        await self._all_in.wait()
        await self.go.wait()
        return str(self.platform_id(target))


@pytest.fixture
async def srv(db_url: str, tmp_path: Path) -> AsyncIterator[Server]:
    settings = make_settings(
        db_url, tmp_path / "data", outbox={"poll_seconds": 0.05, "lease_seconds": LEASE, "backoff_base_seconds": 0.05}
    )
    server = await start_server(settings)
    try:
        yield server
    finally:
        await drop_refusals(server)
        await server.stop()


async def refuse(server: Server, table: str, row_id: int, column: str, value: str) -> None:
    """A constraint violation injected on one row: updating it to `column = value` is refused by the database."""
    name = f"refuse_{table}"
    async with server.ctx.engine.begin() as conn:
        if server.ctx.engine.dialect.name == "sqlite":
            await conn.execute(
                text(
                    f"CREATE TRIGGER {name} BEFORE UPDATE ON {table} WHEN NEW.id = {row_id} AND NEW.{column} = '{value}' "
                    "BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: injected'); END"
                )
            )
        else:
            await conn.execute(
                text(
                    f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'injected' USING ERRCODE = 'check_violation'; END $$ LANGUAGE plpgsql"
                )
            )
            await conn.execute(
                text(
                    f"CREATE TRIGGER {name} BEFORE UPDATE ON {table} FOR EACH ROW "
                    f"WHEN (NEW.id = {row_id} AND NEW.{column} = '{value}') EXECUTE FUNCTION {name}()"
                )
            )


async def drop_refusals(server: Server) -> None:
    async with server.ctx.engine.begin() as conn:
        for table in ("messages", "outbox"):
            name = f"refuse_{table}"
            if server.ctx.engine.dialect.name == "sqlite":
                await conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
            else:
                await conn.execute(text(f"DROP TRIGGER IF EXISTS {name} ON {table}"))
                await conn.execute(text(f"DROP FUNCTION IF EXISTS {name}()"))


async def items(server: Server) -> dict[str, OutboxItem]:
    async with server.ctx.factory() as session:
        return {i.target: i for i in (await session.scalars(select(OutboxItem).where(OutboxItem.channel == "probe"))).all()}


async def another_round_after_the_leases(server: Server) -> None:
    """Time passes beyond every lease and the dispatcher looks again: an item not recorded would be sent now."""
    later = clock.now() + timedelta(seconds=LEASE * 4)
    clock.set_clock(lambda: later)
    await server.ctx.dispatcher.run_once()


async def test_one_unwritable_outcome_leaves_the_rest_of_its_batch_recorded_and_nothing_sent_twice(srv: Server) -> None:
    demo = await make_org(srv.ctx.factory)
    chats = [f"chat{n}" for n in range(10)]
    sender = BarrierSender(expect=len(chats))
    srv.ctx.dispatcher.add_sender(sender)
    conversations = await make_chats(srv.ctx.factory, demo.org.id, "probe", chats)
    await broadcast(srv.ctx.factory, conversations, "notice")
    bad = (await items(srv))["chat3"]
    assert bad.message_id is not None
    await refuse(srv, "messages", bad.message_id, "delivery_state", "sent")  # its thread copy cannot take "sent"
    sender.go.set()

    srv.ctx.dispatcher.wake()
    states = await wait_states(srv.ctx.factory, "probe", {"sent": 10}, timeout=10)
    assert states == {"sent": 10}
    await another_round_after_the_leases(srv)

    assert sender.calls == Counter({chat: 1 for chat in chats}), "an item was sent again"
    recorded = await items(srv)
    assert all(item.sends == 1 for item in recorded.values())
    assert recorded["chat3"].last_error.startswith("delivered")
    async with srv.ctx.factory() as session:
        delivery = dict((await session.execute(select(Message.id, Message.delivery_state).where(Message.direction == "out"))).all())
    assert delivery.pop(bad.message_id) == "pending"
    assert set(delivery.values()) == {"sent"}


async def test_a_sent_that_the_database_refuses_entirely_is_not_sent_again_after_its_lease(srv: Server) -> None:
    demo = await make_org(srv.ctx.factory)
    sender = BarrierSender(expect=3)
    srv.ctx.dispatcher.add_sender(sender)
    await broadcast(srv.ctx.factory, await make_chats(srv.ctx.factory, demo.org.id, "probe", ["a", "b", "c"]), "notice")
    bad = (await items(srv))["b"]
    await refuse(srv, "outbox", bad.id, "state", "sent")  # not even the outbox row can say "sent"
    sender.go.set()

    srv.ctx.dispatcher.wake()
    assert await wait_states(srv.ctx.factory, "probe", {"sent": 2, "sending": 1}, timeout=10) == {"sent": 2, "sending": 1}
    for _ in range(200):  # the outcome is kept in memory once every write was refused
        if bad.id in srv.ctx.dispatcher.recorder.unrecorded:
            break
        await asyncio.sleep(0.02)
    await drop_refusals(srv)
    await another_round_after_the_leases(srv)

    # the dispatcher's own loop (polling every 0.05 s) may be the one that claims "b" again: wait for its record
    assert await wait_states(srv.ctx.factory, "probe", {"sent": 3}, timeout=10) == {"sent": 3}
    assert sender.calls == Counter({"a": 1, "b": 1, "c": 1})


async def test_an_outbound_platform_id_that_collides_with_a_stored_one_is_recorded(srv: Server) -> None:
    demo = await make_org(srv.ctx.factory)
    sender = BarrierSender(expect=1, platform_id=lambda _target: "77")
    sender.go.set()
    srv.ctx.dispatcher.add_sender(sender)
    conversations = await make_chats(srv.ctx.factory, demo.org.id, "probe", ["x"])
    async with transaction(srv.ctx.factory) as session:  # the customer's own message 77 in that chat
        identity = await session.scalar(select(ChannelIdentity).where(ChannelIdentity.external_id == "x"))
        assert identity is not None
        session.add(
            Message(org_id=demo.org.id, conversation_id=conversations["x"], identity_id=identity.id, direction="in",
                    author_type="customer", text="hello", platform_message_id="77")
        )
    await broadcast(srv.ctx.factory, conversations, "notice")
    srv.ctx.dispatcher.wake()
    assert await wait_states(srv.ctx.factory, "probe", {"sent": 1}, timeout=10) == {"sent": 1}
    await another_round_after_the_leases(srv)

    item = (await items(srv))["x"]
    assert (item.sends, item.platform_message_id) == (1, "77") and sender.calls["x"] == 1
    async with srv.ctx.factory() as session:
        copy = await session.get(Message, item.message_id)
    assert copy is not None and copy.delivery_state == "sent" and copy.platform_message_id is None
