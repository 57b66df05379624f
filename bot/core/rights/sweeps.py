"""Wiring of the rights sweeps: deadline reminders, and purging the last notice sent to an erased customer.

The final notice of a deletion or cancellation is the only row that still names the customer's channel
address after erasure; once the outbox has sent it (or given up), the purge removes it.
"""

from __future__ import annotations

from sqlalchemy import delete

from bot.context import AppContext
from bot.core.delivery.models import OutboxItem
from bot.core.rights.reminders import sweep_reminders
from bot.core.storage.db import SessionFactory, transaction

FINAL_NOTICE = "rights-final:"


async def purge_final_notices(*, factory: SessionFactory) -> int:
    async with transaction(factory) as session:
        result = await session.execute(delete(OutboxItem).where(
            OutboxItem.idempotency_key.startswith(FINAL_NOTICE), OutboxItem.state.in_(("sent", "failed"))))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def install(ctx: AppContext) -> None:
    scheduler = ctx.services["scheduler"]
    every = ctx.settings.notifications.sweep_seconds

    async def reminders() -> None:
        if await sweep_reminders(factory=ctx.factory, settings=ctx.settings):
            ctx.dispatcher.wake()

    async def purge() -> None:
        await purge_final_notices(factory=ctx.factory)

    scheduler.every("rights.reminders", every, reminders)
    scheduler.every("rights.final_notices", every, purge)
