"""A stop in the middle of a burst, then a restart on the same database: every pending message arrives once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from tests.channels.telegram.test_delivery import _conversations, _queue_replies
from tests.fakes.telegram_api import FakeTelegram
from tests.utils.factories import make_org


async def test_stop_during_burst_then_restart_delivers_every_pending_message_once(tg_start: object, fake: FakeTelegram) -> None:
    chats = [7100 + i for i in range(6)]
    limits = {"rate_per_chat": 20.0, "chat_burst": 1, "rate_global": 100.0}
    first = await tg_start(**limits)  # type: ignore[operator]
    demo = await make_org(first.ctx.factory, slug="demo")
    conversations = await _conversations(first, fake, chats)
    await asyncio.sleep(0.3)
    fake.latency = 0.05  # sends are on the wire when the stop comes
    await _queue_replies(first, demo, conversations, per_chat=10)
    deadline = time.monotonic() + 10
    while len([c for c in fake.sent() if str(c.params.get("text", "")).startswith("r")]) < 15:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    # Kill the delivery loop abruptly (no graceful round end): sends on the wire finish, but the outbox never
    # records them; only the channel's journal knows. Then stop the rest of the process.
    task = first.ctx.dispatcher._task
    assert task is not None
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    first.ctx.dispatcher._task = None
    await first.stop()
    delivered_before = len([c for c in fake.sent() if str(c.params.get("text", "")).startswith("r")])
    assert delivered_before < 60

    await tg_start(**limits)  # type: ignore[operator]
    deadline = time.monotonic() + 20
    while len({str(c.params.get("text")) for c in fake.sent() if str(c.params.get("text", "")).startswith("r")}) < 60:
        assert time.monotonic() < deadline, "pending messages were not delivered after the restart"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # anything sent twice would show up now
    counts = Counter(str(c.params.get("text")) for c in fake.sent() if str(c.params.get("text", "")).startswith("r"))
    assert set(counts.values()) == {1}, [t for t, n in counts.items() if n > 1]
    for chat in chats:
        got = [t for t in fake.texts(chat) if t.startswith("r")]
        assert got == [f"r{chat}-{n:03d}" for n in range(10)]
