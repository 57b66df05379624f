"""Sending under Telegram's limits and failures: all delivered, in order, once, within the rates."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.config import OutboxConfig
from bot.core.conversations.models import ChannelIdentity, Conversation, Message
from bot.core.conversations.replies import reply_as_agent
from bot.core.delivery.models import OutboxItem
from bot.core.storage.db import transaction
from tests.channels.telegram.conftest import FAST_OUTBOX, tg_settings, wait_rows
from tests.conftest import Server, start_server
from tests.fakes.telegram_api import Call, FakeTelegram, RandomFaults, TelegramLimits
from tests.utils.chats import broadcast, make_chats, outbox_states, wait_states
from tests.utils.factories import OrgWithAdmin, make_org

# Time-scaled limits: per chat x10 (10/s for Telegram's 1/s), overall x5 (150/s for 30/s), so that 20 chats
# (200/s of per-chat allowance) also press on the overall limit, and 500 messages take seconds, not minutes.
SCALED = {"rate_per_chat": 10.0, "chat_burst": 1, "rate_global": 150.0}
CHATS = [9000 + i for i in range(20)]


async def _conversations(server: Server, fake: FakeTelegram, chats: list[int]) -> dict[int, int]:
    for chat in chats:
        fake.push(fake.message(chat, f"hi from {chat}"))
    ids = select(ChannelIdentity.id).where(ChannelIdentity.channel == "telegram")
    conversations = select(Conversation).where(Conversation.identity_id.in_(ids))

    async def opened() -> int:
        return len(await wait_rows(server, conversations, count=0))

    await _wait_progressing(opened, len(chats), "first messages stored")
    rows = await wait_rows(server, conversations, count=len(chats))
    by_identity = {c.identity_id: c.id for c in rows}
    async with server.ctx.factory() as session:
        identities = (await session.scalars(select(ChannelIdentity).where(ChannelIdentity.id.in_(ids)))).all()
    return {int(i.external_id): by_identity[i.id] for i in identities}


async def _queue_replies(server: Server, demo: OrgWithAdmin, conversations: dict[int, int], per_chat: int) -> None:
    async with transaction(server.ctx.factory) as session:
        for n in range(per_chat):
            for chat, conversation_id in conversations.items():
                conversation = await session.get(Conversation, conversation_id)
                assert conversation is not None
                await reply_as_agent(session=session, conversation=conversation, agent=demo.admin, text=f"r{chat}-{n:03d}")
    server.ctx.dispatcher.wake()


async def _wait_progressing(count: Callable[[], Awaitable[int]], total: int, what: str, *, stall: float = 30.0,
                            cap: float = 300.0) -> None:
    """Waits until `count()` reaches `total` for as long as it keeps growing: a busy machine makes delivery slower,
    not wrong, so the bound is on a stall (no progress for `stall` seconds), with `cap` against a crawl."""
    started = last_change = time.monotonic()
    seen = -1
    while (now := await count()) < total:
        moment = time.monotonic()
        if now != seen:
            seen, last_change = now, moment
        assert moment - last_change < stall, f"{what}: stuck at {now} of {total} for {stall:.0f}s (load {os.getloadavg()[0]:.1f})"
        assert moment - started < cap, f"{what}: {now} of {total} after {cap:.0f}s (load {os.getloadavg()[0]:.1f})"
        await asyncio.sleep(0.05)


async def _wait_delivered(fake: FakeTelegram, total: int) -> None:
    async def replies() -> int:
        return len([c for c in fake.sent() if str(c.params.get("text", "")).startswith("r")])

    await _wait_progressing(replies, total, "replies delivered")


async def _wait_outbox_sent(server: Server) -> None:
    """Every Telegram outbox row queued so far is sent (none failed: that would stall the count)."""
    total = sum((await outbox_states(server.ctx.factory, "telegram")).values())

    async def sent() -> int:
        return (await outbox_states(server.ctx.factory, "telegram")).get("sent", 0)

    await _wait_progressing(sent, total, "outbox drained")


def _replies(fake: FakeTelegram) -> dict[str, list[str]]:
    got: dict[str, list[str]] = defaultdict(list)
    for call in fake.sent():
        text = str(call.params.get("text", ""))
        if text.startswith("r"):
            got[call.chat].append(text)
    return got


async def test_500_replies_to_20_chats_under_429_and_5xx_arrive_in_order_once_within_limits(
    tg_start: object, fake: FakeTelegram
) -> None:
    server = await tg_start(**SCALED)  # type: ignore[operator]
    demo = await make_org(server.ctx.factory, slug="demo")
    conversations = await _conversations(server, fake, CHATS)
    await _wait_outbox_sent(server)  # the greetings go first, before any fault is injected
    fake.random = RandomFaults(p429=0.04, p5xx=0.04, retry_after=1)
    fake.fail(
        "sendMessage", 0, chat_id=str(CHATS[0]), delay=3.0
    )  # one timeout (request timeout is 2 s)  # one timeout (request timeout is 2 s)
    started = len(fake.calls)
    await _queue_replies(server, demo, conversations, per_chat=25)
    await _wait_delivered(fake, 500)

    got = _replies(fake)
    for chat in CHATS:
        assert got[str(chat)] == [f"r{chat}-{n:03d}" for n in range(25)], f"chat {chat}: out of order or duplicated"
    assert any(c.status == 429 for c in fake.calls) and any(c.status == 502 for c in fake.calls)

    attempts = [c for c in fake.calls[started:] if c.method == "sendMessage"]
    per_chat: dict[str, list[float]] = defaultdict(list)
    for call in attempts:
        per_chat[call.chat].append(call.at)
    # Measured at arrival, where a busy machine delays one request more than the next: two sends may *arrive*
    # closer than they left. So check spans of several sends (jitter only moves their two ends), not single gaps.
    span, tolerance = 5, 0.1
    for target, times in per_chat.items():
        spans = [b - a for a, b in zip(times, times[span:], strict=False)]
        assert min(spans) >= span / SCALED["rate_per_chat"] - tolerance, f"chat {target} got {span} sends in {min(spans):.3f}s"
    stamps = sorted(c.at for c in attempts)
    window = 1.0
    worst = max(sum(1 for t in stamps[i:] if t < start + window) for i, start in enumerate(stamps))
    assert worst <= SCALED["rate_global"] * window + 2, f"{worst} sends in one second"

    await _wait_outbox_sent(server)  # every row recorded as sent (an outcome is written just after the send)


async def test_real_limits_one_message_per_second_per_chat(tg_start: object, fake: FakeTelegram) -> None:
    """The default limits themselves: three chats, four replies each, at most a burst then 1/s per chat."""
    server = await tg_start(rate_per_chat=1.0, chat_burst=2, rate_global=30.0)  # type: ignore[operator]
    demo = await make_org(server.ctx.factory, slug="demo")
    conversations = await _conversations(server, fake, [8001, 8002, 8003])
    await _wait_outbox_sent(server)  # the greetings are out: their times are known
    greet_end = {chat: max((c.at for c in fake.sent(chat)), default=0.0) for chat in conversations}
    await _queue_replies(server, demo, conversations, per_chat=4)
    await _wait_delivered(fake, 12)
    for chat in conversations:
        times = sorted(c.at for c in fake.sent(chat) if str(c.params.get("text", "")).startswith("r"))
        every = sorted([greet_end[chat], *times])
        # A bucket of 2: any three consecutive sends to a chat span at least one second. Measured at arrival, where a
        # busy machine delays one request more than another (0.964 s seen with the suite on 3 workers): the same
        # tolerance as above; a broken limiter sends the third at once.
        for a, c in zip(every, every[2:], strict=False):
            assert c - a >= 1.0 - 0.1


# ---- Bursts at Telegram's real limits (issue 8): the fake refuses what Telegram would refuse. ----

# The request timeout too is production's: a send that times out may have reached Telegram, and it goes again (the
# Bot API takes no idempotency key). The tests' 2 s timed out on a loaded machine (the fake shares the test's event
# loop with the server) and sent a greeting twice; the proofs that each message goes out once assume production's.
REAL = {"rate_per_chat": 1.0, "chat_burst": 1, "rate_global": 30.0, "group_per_minute": 20, "flood_limit": 100,
        "request_timeout_seconds": 30.0}
SPAN = 1.0 - 0.02  # a "second" as the fake judges it (loopback jitter forgiven)


@pytest.fixture
async def burst_start(sqlite_url: str, tmp_path: Path, fake: FakeTelegram) -> AsyncIterator[Callable[..., Any]]:
    """An app at Telegram's real limits with production outbox timings (a lease of 30 s, not the tests' 1 s).
    SQLite only: at 30/s the two big proofs take two minutes, and twice that would double the suite."""
    db_url = sqlite_url
    fake.limits = TelegramLimits()
    servers: list[Server] = []

    async def start(outbox: dict[str, Any] | None = None, **telegram: Any) -> Server:
        settings = tg_settings(db_url, tmp_path / "data", fake, **{**REAL, **telegram})
        settings.outbox = OutboxConfig.model_validate({**FAST_OUTBOX, "lease_seconds": 30.0, **(outbox or {})})
        servers.append(await start_server(settings))
        return servers[-1]

    yield start
    for server in servers:
        await server.stop()


def assert_paced_like_telegram(calls: list[Call]) -> None:
    """What the fake accepted: at most 30 in any second, at most one per chat per second; and what it refused
    (over a limit, as the fake judges arrivals) a few percent at most: the sender paced them, the fake did not."""
    accepted = [c for c in calls if c.ok]
    stamps = sorted(c.at for c in accepted)
    right = worst = 0
    for left, start in enumerate(stamps):
        while right < len(stamps) and stamps[right] < start + SPAN:
            right += 1
        worst = max(worst, right - left)
    assert worst <= 30, f"{worst} sends within one second"
    per_chat: dict[str, list[float]] = defaultdict(list)
    for call in accepted:
        per_chat[call.chat].append(call.at)
    closest = min((b - a for t in per_chat.values() for a, b in zip(sorted(t), sorted(t)[1:], strict=False)), default=9.0)
    assert closest >= SPAN, f"two sends to one chat {closest:.3f}s apart"
    refused = sum(1 for c in calls if c.status == 429)
    assert refused <= 0.05 * len(accepted), f"{refused} sends refused as over Telegram's limits"


def assert_took(seconds: float, sends: int) -> None:
    """Within 10% of sends/30 on a machine with a core to spare (issue 8). Loaded beyond its cores, the server
    does not get the sixth of a core it needs at 30/s (and the fake, in the same process, stamps arrivals late
    and refuses what then looks bunched), so the bound is loosened to 2x; the counts (none failed, each once,
    within the limits) hold regardless. Measured at load 6-13 on 2 cores: 1.05-1.09x (2,000) and
    1.10-1.15x (1,500)."""
    theory = sends / 30
    load = os.getloadavg()[0]
    factor = 1.10 if load <= (os.cpu_count() or 1) else 2.0
    print(f"{sends} sends in {seconds:.1f}s (theory {theory:.1f}s, {seconds / theory:.2f}x) at load {load:.1f}")
    assert seconds <= theory * factor, f"{sends} sends took {seconds:.1f}s (theory {theory:.1f}s) at load {load:.1f}"


async def assert_sent_once(server: Server, fake: FakeTelegram, total: int) -> None:
    async with server.ctx.factory() as session:
        sends = Counter((await session.scalars(select(OutboxItem.sends).where(OutboxItem.channel == "telegram"))).all())
    assert sends == Counter({1: total}), f"outbox deliveries per item: {sends}"
    per_key = fake.deliveries()
    assert len(per_key) == total and set(per_key.values()) == {1}, "the fake saw a message twice"


async def test_500_new_chats_at_once_get_their_1000_replies_at_30_per_second(burst_start: Any, fake: FakeTelegram) -> None:
    server = await burst_start(mode="webhook")
    await make_org(server.ctx.factory, slug="demo")
    await fake.wait_for(lambda c: c.method == "setWebhook")
    fake.webhook["url"] = f"{server.url}/telegram/webhook"
    gate = asyncio.Semaphore(40)  # Telegram's default max_connections for a webhook

    async def write(chat: int) -> int:
        update = fake.push(fake.message(chat, "hello"))
        fake.updates.remove(update)
        async with gate:
            return await fake.deliver(update)

    began = time.monotonic()
    statuses = await asyncio.gather(*(write(700_000 + n) for n in range(500)))
    assert set(statuses) == {200}
    assert len(await wait_rows(server, select(Message).where(Message.direction == "in"), count=500)) == 500
    total = sum((await outbox_states(server.ctx.factory, "telegram")).values())
    assert total == 1000, f"{total} replies queued for 500 new chats"  # each: the brand card; the welcome with the notice

    states = await wait_states(server.ctx.factory, "telegram", {"sent": total}, timeout=total / 30 * 3 + 30)
    assert states == {"sent": total}, f"not delivered: {states}"
    calls = [c for c in fake.calls if c.method == "sendMessage"]
    accepted = sorted(c.at for c in calls if c.ok)
    print(f"{total} replies: last one {accepted[-1] - began:.1f}s after the burst began")
    assert_paced_like_telegram(calls)
    assert_took(accepted[-1] - accepted[0], total)
    await assert_sent_once(server, fake, total)


async def test_a_broadcast_to_2000_existing_chats_goes_out_once_at_30_per_second(burst_start: Any, fake: FakeTelegram) -> None:
    server = await burst_start()
    demo = await make_org(server.ctx.factory, slug="demo")
    conversations = await make_chats(server.ctx.factory, demo.org.id, "telegram", [str(800_000 + n) for n in range(2000)])
    began = time.monotonic()
    await broadcast(server.ctx.factory, conversations, "Our privacy policy changed:")
    # The clock starts when the burst is queued: this helper writes the 2,000 thread copies one by one through the
    # ORM (seconds on a busy machine), which is the test's set-up, not delivery (a real broadcast fans out in bulk).
    queued, began = time.monotonic() - began, time.monotonic()
    print(f"2000 replies queued in {queued:.1f}s")
    server.ctx.dispatcher.wake()

    states = await wait_states(server.ctx.factory, "telegram", {"sent": 2000}, timeout=2000 / 30 * 3 + 30)
    assert states == {"sent": 2000}, f"not delivered: {states}"
    calls = [c for c in fake.calls if c.method == "sendMessage"]
    assert_paced_like_telegram(calls)
    assert_took(max(c.at for c in calls if c.ok) - began, 2000)
    await assert_sent_once(server, fake, 2000)


async def test_a_429_storm_longer_than_max_attempts_delays_but_loses_nothing(burst_start: Any, fake: FakeTelegram) -> None:
    server = await burst_start(outbox={"max_attempts": 2})
    demo = await make_org(server.ctx.factory, slug="demo")
    chats = [str(600_000 + n) for n in range(10)]
    fake.fail("sendMessage", 429, times=40, retry_after=1)  # about four refusals per message, twice max_attempts
    await broadcast(server.ctx.factory, await make_chats(server.ctx.factory, demo.org.id, "telegram", chats), "Incident:")
    server.ctx.dispatcher.wake()

    states = await wait_states(server.ctx.factory, "telegram", {"sent": 10}, timeout=30)
    assert states == {"sent": 10}, f"after the storm: {states}"
    assert sum(1 for c in fake.calls if c.status == 429) == 40
    await assert_sent_once(server, fake, 10)


async def test_a_message_refused_once_in_a_backlog_is_not_left_for_last(burst_start: Any, fake: FakeTelegram) -> None:
    """A 429 for one chat early in a broadcast: its message goes again about a second later, not after the
    backlog. (Its retry first reads the send journal; it used to reserve its slot after that read, behind every
    fresh item claimed with it, find none within max_wait, go back to pending, and so on until the backlog ran dry.)"""
    server = await burst_start()
    demo = await make_org(server.ctx.factory, slug="demo")
    chats = [str(810_000 + n) for n in range(300)]
    conversations = await make_chats(server.ctx.factory, demo.org.id, "telegram", chats)
    refused = chats[3]
    fake.fail("sendMessage", 429, times=1, retry_after=1, chat_id=refused)
    await broadcast(server.ctx.factory, conversations, "Incident:")
    server.ctx.dispatcher.wake()

    states = await wait_states(server.ctx.factory, "telegram", {"sent": 300}, timeout=300 / 30 * 3 + 30)
    assert states == {"sent": 300}, f"not delivered: {states}"
    # The forced 429 came; on a loaded machine the fake may refuse a few more sends as bunched on arrival (more than
    # 30 in a second of its clock): each of those is paced again and still sent once (assert_sent_once below).
    assert any(c.status == 429 and c.chat == refused for c in fake.calls)
    order = [c.chat for c in sorted(fake.calls, key=lambda c: c.at) if c.method == "sendMessage" and c.ok]
    # refused at about the 4th send, retried after 1 s (30 sends later) plus a claim or two: about the 40th on a quiet
    # machine, the 107th once at a load of 6-9 on 2 cores; left for last (the bug) it is about the 300th
    assert order.index(refused) < 150, f"the refused chat's message went out as send {order.index(refused) + 1} of 300"
    await assert_sent_once(server, fake, 300)
