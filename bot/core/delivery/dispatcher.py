"""The outbox dispatcher: claims due items, hands each to its channel's sender, records the outcome.

Pending items survive restarts (they are rows); a crashed sender's lease expires and the item is claimed again. One
item in flight per target keeps each chat's messages in order.

Under a burst: a channel that knows its send rate (a sender with `claim_limit`) is claimed only as far as it can
send before the leases run out, so a backlog waits in `pending`, not in repeated claims; claims go on while earlier
items are still pacing, so the channel's rate is used without gaps. Waiting for a slot of our own limiter or for a
platform's retry_after (`Paced`) reschedules the item without counting an attempt, and keeps its turn: once due it
is claimed before the items that became due while it waited (else, in a backlog, it would go out last, and the rest
of its chat after it, one a second); an item gives up after `max_attempts` real failures or when it is older than
`max_age_seconds` (then admins are pushed delivery_failing). Outcomes are written by the Recorder
(bot/core/delivery/recorder.py), a batch at a time with a few statements (a paced channel's outcomes linger up to
RECORD_LINGER to share a batch); claims read an index, not the backlog (bot/core/delivery/claims.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import OutboxConfig
from bot.core.common import metrics
from bot.core.common.clock import now
from bot.core.common.live import Hub
from bot.core.common.tasks import finish_or_cancel
from bot.core.delivery.claims import Claimed, claim_due
from bot.core.delivery.recorder import Outcome, Recorder
from bot.core.delivery.senders import FIRST_TRY, Paced, PermanentFailure, RetryLater, Sender, TargetUnreachable
from bot.core.storage.db import SessionFactory, transaction

log = logging.getLogger(__name__)
CLAIM_INTERVAL = 0.2  # seconds: a paced channel's finished sends are answered with one claim, not one claim each
COMEBACK_LIMIT = 100_000  # paced items remembered for their turn (beyond it, the oldest wait in due order)
RECORD_LINGER = 0.1  # seconds a paced channel's "sent" may wait to share its transaction with the next ones


class Dispatcher:
    def __init__(
        self,
        *,
        factory: SessionFactory,
        senders: Mapping[str, Sender],
        hub: Hub,
        config: OutboxConfig,
        on_too_old: Callable[[AsyncSession, Claimed, float], Awaitable[object]] | None = None,
    ) -> None:
        self.factory = factory
        self.senders = dict(senders)
        self.hub = hub
        self.config = config
        self.on_too_old = on_too_old  # what happens when an item ages out (bot/app.py: a delivery_failing push)
        self.recorder = Recorder(factory)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._busy: Counter[str] = Counter()  # items in hand per channel
        self._soon: asyncio.TimerHandle | None = None
        self._comeback: dict[int, tuple[str, float]] = {}  # paced items sent back to pending -> channel, loop time due
        self._asked: set[str] | None = None  # channels named by the wake-ups since the last round; None: any channel
        self._woken = False  # a wake-up came while a round ran
        self._soon_channels: set[str] = set()
        self.rounds: Counter[str] = Counter()  # "claimed" / "skipped": rounds of the loop (tests read it)

    def add_sender(self, sender: Sender) -> None:
        self.senders[sender.channel] = sender

    def wake(self, channels: Collection[str] | None = None) -> None:
        """Claim what is due. `channels`: the only channels with new items, if the caller knows (the ingest writer):
        while none of them has room (a paced channel whose window is in hand), the round is skipped, its claim
        would find nothing to take; their sends finishing wake it again."""
        if channels is None:
            self._asked = None
        elif self._asked is not None:
            self._asked.update(channels)
        self._woken = True
        self._wake.set()

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name="outbox-dispatcher")

    async def stop(self) -> None:
        """Let the items in hand finish (their sends and their bookkeeping), then stop; cancel after the grace period."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        await finish_or_cancel(self._task, self.config.shutdown_grace_seconds)
        self._task = None

    async def _loop(self) -> None:
        try:
            while not self._stopping:
                asked, self._asked, self._woken = self._asked, set(), False
                if asked and self._no_room(asked):
                    self.rounds["skipped"] += 1
                    worked = 0
                else:
                    try:
                        worked = await self.run_once(wait=False)
                    except Exception:  # noqa: BLE001 - keep delivering after a database hiccup
                        log.exception("outbox round failed")
                        worked = 0
                    self.rounds["claimed"] += 1
                if worked:  # more may be due
                    self._asked = None
                    continue
                if self._stopping or self._woken:  # woken while the round ran: look again
                    continue
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.config.poll_seconds)
                except TimeoutError:
                    self._asked = None  # the periodic look at every channel (other processes' items, due retries)
        finally:
            if self._inflight:  # a cancel here cancels them too: the senders journal what they had sent
                await asyncio.gather(*self._inflight.values(), return_exceptions=True)

    def _no_room(self, channels: Collection[str]) -> bool:
        """Every one of these channels is paced and has no room for a claim now."""
        paced, _ = self.rooms()
        return all(paced.get(channel, 1) == 0 for channel in channels)

    def rooms(self) -> tuple[dict[str, int], int]:
        """How many items each paced channel may claim now, and how many the unpaced channels may.

        A paced channel is claimed again only once half of its window is free: one claim per half window,
        not one per finished send."""
        paced: dict[str, int] = {}
        busy_unpaced = sum(n for channel, n in self._busy.items() if self._window(channel) is None)
        for channel in self.senders:
            window = self._window(channel)
            if window is not None:
                room = window - self._busy[channel]
                paced[channel] = room if room >= max(1, window // 2) else 0
        return paced, self.config.batch_size - busy_unpaced

    def _window(self, channel: str) -> int | None:
        limit = getattr(self.senders.get(channel), "claim_limit", None)
        return max(1, int(limit(self.config.lease_seconds))) if callable(limit) else None

    async def run_once(self, *, wait: bool = True) -> int:
        """Claim what the channels have room for and start delivering it; returns items claimed.
        `wait`: return only when these deliveries are recorded (tests and one-shot runs)."""
        paced, others = self.rooms()
        if others <= 0 and not any(paced.values()):
            return 0
        clock = asyncio.get_running_loop().time()
        first = [  # those due whose channel has room in this claim
            item_id
            for item_id, (channel, due) in self._comeback.items()
            if due <= clock and (paced[channel] > 0 if channel in paced else others > 0)
        ]
        async with transaction(self.factory, inline=True) as session:  # bounded: a claim's heads and leases
            claimed = await claim_due(
                session=session,
                lease_seconds=self.config.lease_seconds,
                limit=max(others, 0),
                per_channel=paced,
                exclude=list(self._inflight),
                first=first,
            )
        for item_id in first:  # claimed now, or taken elsewhere; if neither, it waits in due order from here
            self._comeback.pop(item_id, None)
        tasks = [self._start(item) for item in claimed]
        if wait and tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        return len(claimed)

    def _start(self, item: Claimed) -> asyncio.Task[None]:
        task = asyncio.create_task(self._deliver(item), name=f"outbox-{item.id}")
        self._inflight[item.id] = task
        self._busy[item.channel] += 1

        def done(_: asyncio.Task[None]) -> None:
            self._inflight.pop(item.id, None)
            self._busy[item.channel] -= 1
            if self._window(item.channel) is None:
                self.wake()
            else:  # a paced channel frees room one send at a time: look again a little later, for several at once
                self._wake_soon(item.channel)

        task.add_done_callback(done)
        return task

    async def _deliver(self, item: Claimed) -> None:
        try:
            await self._send(item)
        except Exception:  # noqa: BLE001 - an outcome that could not be written: the lease brings the item back
            log.warning("outbox item %d: outcome not written; it returns when its lease runs out", item.id)

    async def _send(self, item: Claimed) -> None:
        if item.id in self.recorder.unrecorded:  # delivered before, bookkeeping failed: record, do not send again
            await self._sent(item, self.recorder.unrecorded.pop(item.id))
            return
        sender = self.senders.get(item.channel)
        if sender is None:
            await self._retry(item, RetryLater(f"no sender for channel {item.channel}"))
            return
        FIRST_TRY.set(item.fresh)  # this task's own context
        try:
            platform_id = await sender.send(item.target, item.payload)
        except TargetUnreachable as exc:
            await self._fail(item, exc, unreachable=True)
        except PermanentFailure as exc:
            await self._fail(item, exc)
        except RetryLater as exc:
            await self._retry(item, exc)
        except Exception as exc:  # noqa: BLE001 - an unknown sender error is treated as transient
            log.warning("sender %s raised %s", item.channel, type(exc).__name__)
            await self._retry(item, RetryLater(type(exc).__name__))
        else:
            await self._sent(item, platform_id)

    async def _sent(self, item: Claimed, platform_id: str | None) -> None:
        # a paced channel's sends finish one at a time: their outcomes gather a moment to share a transaction
        linger = RECORD_LINGER if self._window(item.channel) is not None else 0.0
        sends = await self.recorder.record(Outcome(item, "sent", platform_id=platform_id), linger=linger)
        metrics.OUTBOUND.labels(item.channel, "sent").inc()
        metrics.SENDS_PER_ITEM.labels(item.channel).observe(sends)
        metrics.DELIVERY_LATENCY.labels(item.channel).observe(max((now() - item.created_at).total_seconds(), 0))
        await self._announce(item, "sent")

    def backoff(self, attempts: int) -> float:
        base = self.config.backoff_base_seconds * (2 ** (attempts - 1))
        jitter = random.uniform(0.8, 1.2)  # noqa: S311 - not security relevant
        return float(min(base, self.config.backoff_max_seconds) * jitter)

    async def _retry(self, item: Claimed, exc: RetryLater) -> None:
        paced = isinstance(exc, Paced)
        age = (now() - item.created_at).total_seconds()
        if age > self.config.max_age_seconds:
            await self._fail(item, exc, too_old=age)
            return
        if not paced and item.attempts >= self.config.max_attempts:
            await self._fail(item, exc)
            return
        delay = exc.retry_after if exc.retry_after is not None else self.backoff(item.attempts)
        await self.recorder.record(
            Outcome(item, "retry", delay=delay, error=str(exc), counted=not paced), linger=RECORD_LINGER if paced else 0.0
        )
        metrics.OUTBOUND.labels(item.channel, "paced" if paced else "retry").inc()
        if paced:  # its turn is kept: claimed first once due, not behind every item that became due before it
            self._comeback[item.id] = (item.channel, asyncio.get_running_loop().time() + delay)
            if len(self._comeback) > COMEBACK_LIMIT:
                for key in list(self._comeback)[: COMEBACK_LIMIT // 2]:
                    del self._comeback[key]
        else:
            log.info("outbox item %d to %s: retry in %.1fs (%s)", item.id, item.channel, delay, exc)
        self._schedule_wake(delay)

    def _wake_soon(self, channel: str) -> None:
        self._soon_channels.add(channel)
        if self._soon is None:
            self._soon = asyncio.get_running_loop().call_later(CLAIM_INTERVAL, self._woken_soon)

    def _woken_soon(self) -> None:
        self._soon = None
        channels, self._soon_channels = self._soon_channels, set()
        self.wake(channels)

    def _schedule_wake(self, delay: float) -> None:
        try:
            asyncio.get_running_loop().call_later(max(delay, 0.0) + 0.01, self.wake)
        except RuntimeError:
            pass

    async def _fail(self, item: Claimed, exc: Exception, *, unreachable: bool = False, too_old: float | None = None) -> None:
        error = str(exc) if too_old is None else f"undelivered after {too_old:.0f}s (outbox.max_age_seconds): {exc}"
        await self.recorder.record(Outcome(item, "unreachable" if unreachable else "failed", error=error))
        metrics.OUTBOUND.labels(item.channel, "failed").inc()
        log.warning("outbox item %d to %s failed: %s", item.id, item.channel, error)
        if too_old is not None and self.on_too_old is not None:
            async with transaction(self.factory) as session:
                await self.on_too_old(session, item, too_old)
        await self._announce(item, "failed")

    async def _announce(self, item: Claimed, state: str) -> None:
        conversation_id: Any = item.payload.get("conversation_id")
        if item.message_id is not None and conversation_id is not None:
            await self.hub.publish(
                f"conv:{conversation_id}", {"type": "delivery", "message_id": item.message_id, "state": state}
            )
