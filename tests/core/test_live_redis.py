"""Scale-out fan-out: a message published by one process reaches sockets held by another, through Redis."""

from __future__ import annotations

import os

from bot.core.conversations.live import RedisHub

# The machine's Redis (CI starts it in .ci/run); database 15 keeps tests away from real data.
REDIS_URL = os.environ.get("INCS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


async def test_two_processes_share_live_events_through_redis() -> None:
    a, b = RedisHub(REDIS_URL), RedisHub(REDIS_URL)
    await a.start()
    await b.start()
    try:
        on_b = b.subscribe("conv:7")
        on_a = a.subscribe("conv:7")
        await a.publish("conv:7", {"type": "message", "text": "from A"})
        assert (await _get(on_b))["text"] == "from A"
        assert (await _get(on_a))["text"] == "from A"  # local delivery, once
        assert on_a.queue.empty()
    finally:
        await a.stop()
        await b.stop()


async def _get(sub: object) -> dict[str, object]:
    import asyncio

    return await asyncio.wait_for(sub.get(), 5)  # type: ignore[attr-defined,no-any-return]
