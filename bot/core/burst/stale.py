"""An item that stayed undelivered longer than outbox.max_age_seconds: admins are pushed delivery_failing.

Raised once per organization, channel and notification window (notifications.failing_window_minutes): a
broadcast that ages out does not page anyone a thousand times. Pushes themselves (their own channels) never
raise it, so a failing push channel cannot feed itself.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.core.clock import now
from bot.core.notifications import PUSH_CHANNELS, NotificationKind, raise_event
from bot.core.outbox import Claimed


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
