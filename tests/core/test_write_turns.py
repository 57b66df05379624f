"""SQLite writer turns: first come first served, but the ingest writer's (urgent) turn goes ahead of waiting
ordinary writers, so an acknowledgement never queues behind a backlog of delivery bookkeeping, unless an ordinary
one has waited long (delivery goes on through a burst); a cancelled waiter neither keeps nor loses a turn."""

from __future__ import annotations

import asyncio

from bot.core.storage.db import _write_turns, create_engine, session_factory, write_turn


async def test_an_urgent_turn_goes_ahead_of_waiting_ordinary_ones(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    factory = session_factory(engine)
    order: list[str] = []

    async def writer(name: str, urgent: bool) -> None:
        async with write_turn(factory, urgent=urgent):
            order.append(name)

    try:
        async with write_turn(factory):
            waiting = [asyncio.create_task(writer(f"ordinary {n}", False)) for n in range(3)]
            cancelled = asyncio.create_task(writer("cancelled", True))
            waiting.append(asyncio.create_task(writer("urgent", True)))
            turns = _write_turns[engine.sync_engine]
            for _ in range(1000):  # until every task waits for the turn (each needs one pass of the loop)
                if len(turns.ordinary) == 3 and len(turns.urgent) == 2:
                    break
                await asyncio.sleep(0)
            cancelled.cancel()
        await asyncio.gather(*waiting)
        assert order == ["urgent", "ordinary 0", "ordinary 1", "ordinary 2"]
        async with asyncio.timeout(5):  # the turn is free again
            async with write_turn(factory):
                pass
    finally:
        await engine.dispose()


async def test_an_ordinary_turn_that_waited_long_goes_before_the_next_urgent_one(sqlite_url: str) -> None:
    """A burst of inbound messages (urgent turn after urgent turn) does not stop delivery's short turns."""
    engine = create_engine(sqlite_url)
    factory = session_factory(engine)
    order: list[str] = []

    async def writer(name: str, urgent: bool) -> None:
        async with write_turn(factory, urgent=urgent):
            order.append(name)

    try:
        async with write_turn(factory, urgent=True):
            turns = _write_turns[engine.sync_engine]
            ordinary = asyncio.create_task(writer("ordinary", False))
            urgent = asyncio.create_task(writer("urgent", True))
            for _ in range(1000):  # until both wait for the turn (each needs one pass of the loop)
                if turns.ordinary and turns.urgent:
                    break
                await asyncio.sleep(0)
            turns.since[turns.ordinary[0]] -= turns.ORDINARY_MAX_WAIT  # it has waited that long (a run of ingest batches)
        await asyncio.gather(ordinary, urgent)
        assert order == ["ordinary", "urgent"]
    finally:
        await engine.dispose()
