"""The snooze sweep: every few seconds, snoozed conversations whose time has come open again (and their
organization's open inboxes hear of it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.storage.db import transaction
from bot.core.triage import wake_snoozed

if TYPE_CHECKING:
    from bot.context import AppContext

SWEEP_SECONDS = 15.0


def install(ctx: AppContext) -> None:
    async def wake() -> None:
        async with transaction(ctx.factory) as session:
            woken = [(c.org_id, c.id) for c in await wake_snoozed(session=session)]
        for org_id, conversation_id in woken:
            await ctx.hub.publish(f"org:{org_id}", {"type": "conversation", "conversation_id": conversation_id, "status": "open"})

    ctx.services["scheduler"].every("triage.snooze", SWEEP_SECONDS, wake)
