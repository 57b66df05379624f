"""The outbox dispatcher: claims due items, hands each to its channel's sender, records the outcome.

Pending items survive restarts (they are rows); a crashed sender's lease expires and the item is
claimed again. One item in flight per target keeps each chat's messages in order.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import OutboxConfig
from bot.core.common import metrics
from bot.core.common.clock import now
from bot.core.common.live import Hub
from bot.core.common.tasks import finish_or_cancel
from bot.core.delivery.outbox import Claimed, claim_due, mark_failed, mark_retry, mark_sent, mark_unreachable
from bot.core.delivery.senders import PermanentFailure, RetryLater, Sender, TargetUnreachable
from bot.core.storage.db import SessionFactory, transaction

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(self, *, factory: SessionFactory, senders: Mapping[str, Sender], hub: Hub, config: OutboxConfig) -> None:
        self.factory = factory
        self.senders = dict(senders)
        self.hub = hub
        self.config = config
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._outcomes: list[tuple[_Outcome, asyncio.Future[None]]] = []
        self._recorder: asyncio.Task[None] | None = None

    def add_sender(self, sender: Sender) -> None:
        self.senders[sender.channel] = sender

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="outbox-dispatcher")

    async def stop(self) -> None:
        """Let the current round finish (its sends and their bookkeeping), then stop; cancel after the grace period."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        await finish_or_cancel(self._task, self.config.shutdown_grace_seconds)
        self._task = None

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                worked = await self.run_once()
            except Exception:  # noqa: BLE001 - keep delivering after a database hiccup
                log.exception("outbox round failed")
                worked = 0
            if worked or self._stopping:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.config.poll_seconds)
            except TimeoutError:
                pass

    async def run_once(self) -> int:
        """One round: claim, deliver concurrently (one per target), record. Returns items handled."""
        async with transaction(self.factory) as session:
            claimed = await claim_due(
                session=session, lease_seconds=self.config.lease_seconds, limit=self.config.batch_size
            )
        if claimed:
            await asyncio.gather(*(self._deliver(item) for item in claimed))
        return len(claimed)

    async def _deliver(self, item: Claimed) -> None:
        sender = self.senders.get(item.channel)
        if sender is None:
            await self._retry(item, RetryLater(f"no sender for channel {item.channel}"))
            return
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
            await self._record(_Outcome(item, "sent", platform_id=platform_id))
            metrics.OUTBOUND.labels(item.channel, "sent").inc()
            metrics.DELIVERY_LATENCY.labels(item.channel).observe(max((now() - item.created_at).total_seconds(), 0))
            await self._announce(item, "sent")

    def backoff(self, attempts: int) -> float:
        base = self.config.backoff_base_seconds * (2 ** (attempts - 1))
        jitter = random.uniform(0.8, 1.2)  # noqa: S311 - not security relevant
        return float(min(base, self.config.backoff_max_seconds) * jitter)

    async def _retry(self, item: Claimed, exc: RetryLater) -> None:
        if item.attempts >= self.config.max_attempts:
            await self._fail(item, exc)
            return
        delay = exc.retry_after if exc.retry_after is not None else self.backoff(item.attempts)
        await self._record(_Outcome(item, "retry", delay=delay, error=str(exc)))
        metrics.OUTBOUND.labels(item.channel, "retry").inc()
        log.info("outbox item %d to %s: retry in %.1fs (%s)", item.id, item.channel, delay, exc)
        self._schedule_wake(delay)

    def _schedule_wake(self, delay: float) -> None:
        try:
            asyncio.get_running_loop().call_later(max(delay, 0.0) + 0.01, self._wake.set)
        except RuntimeError:
            pass

    async def _fail(self, item: Claimed, exc: Exception, *, unreachable: bool = False) -> None:
        await self._record(_Outcome(item, "unreachable" if unreachable else "failed", error=str(exc)))
        metrics.OUTBOUND.labels(item.channel, "failed").inc()
        log.warning("outbox item %d to %s failed: %s", item.id, item.channel, exc)
        await self._announce(item, "failed")

    async def _record(self, outcome: _Outcome) -> None:
        """Outcomes that finish together share one transaction (one write, not one per message), and each
        caller returns only once its outcome is committed — the item stays claimed until then."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outcomes.append((outcome, future))
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._write_outcomes())
        await future

    async def _write_outcomes(self) -> None:
        await asyncio.sleep(0)  # let the outcomes of this moment gather
        while self._outcomes:
            batch, self._outcomes = self._outcomes, []
            try:
                async with transaction(self.factory) as session:
                    for outcome, _ in batch:
                        await outcome.apply(session)
            except Exception as exc:  # noqa: BLE001 - each caller sees the failure; its lease retries the item
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(None)

    async def _announce(self, item: Claimed, state: str) -> None:
        conversation_id: Any = item.payload.get("conversation_id")
        if item.message_id is not None and conversation_id is not None:
            await self.hub.publish(
                f"conv:{conversation_id}", {"type": "delivery", "message_id": item.message_id, "state": state}
            )


@dataclass(frozen=True)
class _Outcome:
    item: Claimed
    kind: Literal["sent", "retry", "failed", "unreachable"]
    platform_id: str | None = None
    delay: float = 0.0
    error: str = ""

    async def apply(self, session: AsyncSession) -> None:
        item = self.item
        if self.kind == "sent":
            await mark_sent(session=session, item_id=item.id, platform_message_id=self.platform_id)
        elif self.kind == "retry":
            await mark_retry(session=session, item_id=item.id, delay_seconds=self.delay, error=self.error)
        else:
            await mark_failed(session=session, item_id=item.id, error=self.error)
            if self.kind == "unreachable":
                await mark_unreachable(session=session, org_id=item.org_id, channel=item.channel, target=item.target)
