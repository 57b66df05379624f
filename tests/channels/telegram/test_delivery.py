"""Sending under Telegram's limits and failures: all delivered, in order, once, within the rates."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

from sqlalchemy import func, select

from bot.core.db import transaction
from bot.core.models import ChannelIdentity, Conversation, OutboxItem
from bot.core.replies import reply_as_agent
from tests.channels.telegram.conftest import wait_rows
from tests.conftest import Server
from tests.fakes.telegram_api import FakeTelegram, RandomFaults
from tests.utils.factories import OrgWithAdmin, make_org

# Time-scaled limits: per chat x10 (10/s for Telegram's 1/s), overall x5 (150/s for 30/s), so that 20 chats
# (200/s of per-chat allowance) also press on the overall limit, and 500 messages take seconds, not minutes.
SCALED = {"rate_per_chat": 10.0, "chat_burst": 1, "rate_global": 150.0}
CHATS = [9000 + i for i in range(20)]


async def _conversations(server: Server, fake: FakeTelegram, chats: list[int]) -> dict[int, int]:
    for chat in chats:
        fake.push(fake.message(chat, f"hi from {chat}"))
    ids = select(ChannelIdentity.id).where(ChannelIdentity.channel == "telegram")
    rows = await wait_rows(server, select(Conversation).where(Conversation.identity_id.in_(ids)), count=len(chats))
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


async def _wait_delivered(fake: FakeTelegram, total: int, timeout: float) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len([c for c in fake.sent() if str(c.params.get("text", "")).startswith("r")]) >= total:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not everything was delivered in time")


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
    await asyncio.sleep(0.3)  # let the greetings go first
    fake.random = RandomFaults(p429=0.04, p5xx=0.04, retry_after=1)
    fake.fail(
        "sendMessage", 0, chat_id=str(CHATS[0]), delay=3.0
    )  # one timeout (request timeout is 2 s)  # one timeout (request timeout is 2 s)
    started = len(fake.calls)
    await _queue_replies(server, demo, conversations, per_chat=25)
    await _wait_delivered(fake, 500, timeout=40)

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
    for chat, times in per_chat.items():
        spans = [b - a for a, b in zip(times, times[span:], strict=False)]
        assert min(spans) >= span / SCALED["rate_per_chat"] - tolerance, f"chat {chat} got {span} sends in {min(spans):.3f}s"
    stamps = sorted(c.at for c in attempts)
    window = 1.0
    worst = max(sum(1 for t in stamps[i:] if t < start + window) for i, start in enumerate(stamps))
    assert worst <= SCALED["rate_global"] * window + 2, f"{worst} sends in one second"

    unsent = select(OutboxItem).where(OutboxItem.channel == "telegram", OutboxItem.state != "sent")
    for _ in range(100):
        async with server.ctx.factory() as session:
            left = await session.scalar(select(func.count()).select_from(unsent.subquery()))
        if not left:
            break
        await asyncio.sleep(0.05)
    assert left == 0, "outbox not drained"


async def test_real_limits_one_message_per_second_per_chat(tg_start: object, fake: FakeTelegram) -> None:
    """The default limits themselves: three chats, four replies each, at most a burst then 1/s per chat."""
    server = await tg_start(rate_per_chat=1.0, chat_burst=2, rate_global=30.0)  # type: ignore[operator]
    demo = await make_org(server.ctx.factory, slug="demo")
    conversations = await _conversations(server, fake, [8001, 8002, 8003])
    await asyncio.sleep(0.1)
    greet_end = {chat: max((c.at for c in fake.sent(chat)), default=0.0) for chat in conversations}
    await _queue_replies(server, demo, conversations, per_chat=4)
    await _wait_delivered(fake, 12, timeout=15)
    for chat in conversations:
        times = sorted(c.at for c in fake.sent(chat) if str(c.params.get("text", "")).startswith("r"))
        every = sorted([greet_end[chat], *times])
        # a bucket of 2: any three consecutive sends to a chat span at least one second
        for a, c in zip(every, every[2:], strict=False):
            assert c - a >= 1.0 - 0.02
