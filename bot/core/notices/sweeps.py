"""Scheduled work of this package: fanning out running broadcasts (idempotent, resumable: see broadcasts.py).

`ctx.services["broadcasts.kick"]()` fans out at once (after a start or a publish) instead of at the next
sweep; those tasks end with the app, and a batch cut short rolls back whole, so the next run resumes it.
"""

from __future__ import annotations

import asyncio

from bot.context import AppContext
from bot.core.notices.broadcasts import run_pending


def install(ctx: AppContext) -> None:
    settings = ctx.settings.broadcasts
    tasks: set[asyncio.Task[None]] = set()

    async def fan_out() -> None:
        if await run_pending(factory=ctx.factory, batch_size=settings.batch_size):
            ctx.dispatcher.wake()

    def kick() -> None:
        task = asyncio.create_task(fan_out(), name="broadcasts.kick")
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def stop() -> None:
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    ctx.services["broadcasts.kick"] = kick
    ctx.on_stop.append(stop)
    # After a restart the first run resumes every running broadcast from its cursor.
    ctx.services["scheduler"].every("broadcasts.fan_out", settings.sweep_seconds, fan_out)
