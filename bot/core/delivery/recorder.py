"""Writes delivery outcomes: together when it works, one by one when the batch fails, journalled when even that fails.

Outcomes that finish together share one transaction, written with one statement per kind of write
(`record_outcomes`: executemany), not a few per message. A paced channel's outcomes may linger a moment
(`record(..., linger=)`): its sends leave one at a time at the channel's rate, so without it every send would be a
transaction of its own; with it a few share one. Any outcome that does not linger takes the waiting ones along. If
that transaction fails (a constraint on one row, a lock timeout, a serialization failure) each outcome is written
again in its own transaction, so one bad row affects only itself. A "sent" that still cannot be written is
journalled: first on the outbox row alone (state sent, nothing else), and if the database refuses even that, in
this process's memory, which the dispatcher consults before sending a claimed item. A delivered item is therefore
never sent again because its bookkeeping failed; a retry or failure that cannot be written is left to the lease
(the item comes back and is tried again, which is what a retry means anyway).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.delivery.claims import Claimed, promote_next
from bot.core.delivery.outbox import Failed, Retry, Sent, journal_sent, mark_unreachable, record_outcomes
from bot.core.storage.db import SessionFactory, transaction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    item: Claimed
    kind: Literal["sent", "retry", "failed", "unreachable"]
    platform_id: str | None = None
    delay: float = 0.0
    error: str = ""
    counted: bool = True  # a retry that counts towards max_attempts (waiting for a slot does not)


async def apply(session: AsyncSession, outcomes: Sequence[Outcome]) -> list[int]:
    """Write the outcomes; for each "sent", the item's recorded deliveries (above 1: a duplicate), else 0."""
    sent = [Sent(o.item.id, o.item.message_id, o.platform_id) for o in outcomes if o.kind == "sent"]
    retries = [Retry(o.item.id, o.delay, o.error, o.counted) for o in outcomes if o.kind == "retry"]
    failed = [Failed(o.item.id, o.item.message_id, o.error) for o in outcomes if o.kind in ("failed", "unreachable")]
    finished = {(o.item.channel, o.item.target) for o in outcomes if o.kind != "retry"}
    sends = await record_outcomes(session=session, sent=sent, retries=retries, failed=failed, finished=finished)
    for o in outcomes:
        if o.kind == "unreachable":
            await mark_unreachable(session=session, org_id=o.item.org_id, channel=o.item.channel, target=o.item.target)
    return [sends.get(o.item.id, 0) if o.kind == "sent" else 0 for o in outcomes]


class Recorder:
    """Each caller of record() returns once its outcome is written (or journalled); the item stays claimed until then."""

    def __init__(self, factory: SessionFactory) -> None:
        self.factory = factory
        self.unrecorded: dict[int, str | None] = {}  # item id -> platform id: delivered, not even journalled in the DB
        self._queue: list[tuple[Outcome, asyncio.Future[int]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._due = math.inf  # loop time by which the queued outcomes must be written
        self._sooner = asyncio.Event()  # an outcome arrived that is due before the writer planned to write

    async def record(self, outcome: Outcome, *, linger: float = 0.0) -> int:
        """Write this outcome (with whatever else is waiting) within `linger` seconds; returns as record_outcomes."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._queue.append((outcome, future))
        due = loop.time() + linger
        if due < self._due:
            self._due = due
            self._sooner.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        return await future

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            while (wait := self._due - loop.time()) > 0:  # lingering outcomes: wait for their time or a sooner one
                self._sooner.clear()
                try:
                    await asyncio.wait_for(self._sooner.wait(), wait)
                except TimeoutError:
                    break
            await asyncio.sleep(0)  # let the outcomes of this moment gather
            batch, self._queue, self._due = self._queue, [], math.inf
            try:
                async with transaction(self.factory, inline=True) as session:  # bounded: one moment's outcomes
                    results = await apply(session, [outcome for outcome, _ in batch])
            except Exception as exc:  # noqa: BLE001 - one by one below; only the row that is at fault stays unwritten
                log.warning("outbox: %d outcomes not written together (%s); one by one", len(batch), type(exc).__name__)
                for outcome, future in batch:
                    await self._write_alone(outcome, future)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def _write_alone(self, outcome: Outcome, future: asyncio.Future[int]) -> None:
        try:
            async with transaction(self.factory) as session:
                result = (await apply(session, [outcome]))[0]
        except Exception as exc:  # noqa: BLE001 - a sent is journalled; anything else returns with its lease
            if outcome.kind == "sent":
                result = await self._journal(outcome, exc)
            elif not future.done():
                future.set_exception(exc)
                return
        if not future.done():
            future.set_result(result)

    async def _journal(self, outcome: Outcome, cause: Exception) -> int:
        item = outcome.item
        try:
            async with transaction(self.factory) as session:
                await journal_sent(session=session, item_id=item.id, platform_message_id=outcome.platform_id)
        except Exception as exc:  # noqa: BLE001 - the database refuses even that: remember it in this process
            self.unrecorded[item.id] = outcome.platform_id
            log.warning("outbox item %d delivered; not recordable (%s), kept in memory", item.id, type(exc).__name__)
            return 1
        log.warning("outbox item %d delivered; its thread copy could not be updated (%s)", item.id, type(cause).__name__)
        await self._promote(item)
        return 1

    async def _promote(self, item: Claimed) -> None:
        """Best effort: if this fails, the target's next item waits out its deferral (a lease) instead."""
        try:
            async with transaction(self.factory) as session:
                await promote_next(session=session, targets=[(item.channel, item.target)])
        except Exception as exc:  # noqa: BLE001
            log.warning("outbox item %d: the next item of its chat waits for its lease (%s)", item.id, type(exc).__name__)
