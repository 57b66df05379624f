"""Background task helpers."""

from __future__ import annotations

import asyncio
import contextlib


async def finish_or_cancel(task: asyncio.Task[None], grace_seconds: float) -> None:
    """Wait up to `grace_seconds` for a task that was asked to stop, then cancel it."""
    try:
        await asyncio.wait_for(asyncio.shield(task), grace_seconds)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
