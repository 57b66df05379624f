"""An item that stayed undelivered longer than outbox.max_age_seconds: admins are pushed delivery_failing.

The dispatcher (bot/core/delivery/) knows when; this module, above it, says what happens: `bot/app.py` hands
`too_old_notifier(settings)` to the dispatcher, so delivery never imports notifications.

Raised once per organization, channel and notification window (notifications.failing_window_minutes): a
broadcast that ages out does not page anyone a thousand times. Pushes themselves (their own channels) never
raise it, so a failing push channel cannot feed itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.core.common.clock import now
from bot.core.delivery.claims import Claimed
from bot.core.notifications.fanout import PUSH_CHANNELS, NotificationKind, raise_event


async def raise_too_old(*, session: AsyncSession, item: Claimed, age_seconds: float, settings: Settings | None) -> bool:
    """Returns whether an event was raised (False: no organization, a push channel, or already raised in this window)."""
    if item.org_id is None or item.channel in PUSH_CHANNELS.values():
        return False
    window = settings.notifications.failing_window_minutes if settings is not None else 60
    bucket = int(now().timestamp() // (window * 60))
    _, created = await raise_event(
        session=session,
        org_id=item.org_id,
        kind=NotificationKind.DELIVERY_FAILING,
        subject_type="channel",
        subject_id=None,
        title=f"Delivery failing on {item.channel}: a message stayed undelivered for {age_seconds / 60:.0f} minutes",
        url="/workbench/notifications",
        dedup_key=f"delivery_failing:age:{item.org_id}:{item.channel}:{bucket}",
        detail={"channel": item.channel, "age_seconds": round(age_seconds), "outbox_id": item.id},
        settings=settings,
    )
    return created


def too_old_notifier(settings: Settings | None) -> Callable[[AsyncSession, Claimed, float], Awaitable[bool]]:
    """The dispatcher's `on_too_old` hook, bound to the app's settings (routes, public_url, limits)."""

    async def notify(session: AsyncSession, item: Claimed, age_seconds: float) -> bool:
        return await raise_too_old(session=session, item=item, age_seconds=age_seconds, settings=settings)

    return notify
