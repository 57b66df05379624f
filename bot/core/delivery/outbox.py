"""The durable outbox: every outbound message is a row before any platform sees it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.clock import now
from bot.core.models import ChannelIdentity, Message, OutboxItem

ACTIVE = ("pending", "sending")


async def enqueue(
    *,
    session: AsyncSession,
    channel: str,
    target: str,
    payload: dict[str, Any],
    idempotency_key: str,
    org_id: int | None = None,
    message_id: int | None = None,
    new_key: bool = False,
) -> OutboxItem:
    """Queue one delivery. The same idempotency key twice yields the first item, not a second send.
    `new_key` skips the look-up when the key cannot exist yet (it names a row created in this transaction)."""
    if not new_key:
        existing = await session.scalar(select(OutboxItem).where(OutboxItem.idempotency_key == idempotency_key))
        if existing is not None:
            return existing
    item = OutboxItem(
        org_id=org_id, channel=channel, target=target, payload=payload, idempotency_key=idempotency_key, message_id=message_id
    )
    session.add(item)
    await session.flush()
    return item


@dataclass(frozen=True)
class Claimed:
    id: int
    channel: str
    target: str
    payload: dict[str, Any]
    attempts: int
    message_id: int | None
    org_id: int | None
    created_at: datetime


async def claim_due(*, session: AsyncSession, lease_seconds: float, limit: int) -> list[Claimed]:
    """Claim the oldest undelivered item of each target, if it is due. One in flight per target keeps order."""
    stamp = now()
    heads = (
        select(func.min(OutboxItem.id))
        .where(OutboxItem.state.in_(ACTIVE))
        .group_by(OutboxItem.channel, OutboxItem.target)
        .limit(limit * 4)
    )
    rows = (await session.scalars(select(OutboxItem).where(OutboxItem.id.in_(heads)).order_by(OutboxItem.id))).all()
    claimed: list[Claimed] = []
    for item in rows:
        due = (item.state == "pending" and item.next_attempt_at <= stamp) or (
            item.state == "sending" and item.locked_until is not None and item.locked_until < stamp
        )
        if not due:
            continue
        result = await session.execute(
            update(OutboxItem)
            .where(OutboxItem.id == item.id, OutboxItem.state == item.state, OutboxItem.attempts == item.attempts)
            .values(state="sending", attempts=item.attempts + 1, locked_until=stamp + timedelta(seconds=lease_seconds))
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(
                Claimed(item.id, item.channel, item.target, item.payload, item.attempts + 1, item.message_id, item.org_id, item.created_at)
            )
        if len(claimed) >= limit:
            break
    return claimed


async def mark_sent(*, session: AsyncSession, item_id: int, platform_message_id: str | None) -> None:
    stamp = now()
    await session.execute(
        update(OutboxItem).where(OutboxItem.id == item_id).values(state="sent", sent_at=stamp, locked_until=None, last_error="")
    )
    item = await session.get(OutboxItem, item_id)
    if item is not None and item.message_id is not None:
        values: dict[str, Any] = {"delivery_state": "sent"}
        if platform_message_id:
            values["platform_message_id"] = platform_message_id
        await session.execute(update(Message).where(Message.id == item.message_id).values(**values))


async def mark_retry(*, session: AsyncSession, item_id: int, delay_seconds: float, error: str) -> None:
    await session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id)
        .values(state="pending", next_attempt_at=now() + timedelta(seconds=delay_seconds), locked_until=None, last_error=error[:500])
    )


async def mark_failed(*, session: AsyncSession, item_id: int, error: str) -> None:
    await session.execute(
        update(OutboxItem).where(OutboxItem.id == item_id).values(state="failed", locked_until=None, last_error=error[:500])
    )
    item = await session.get(OutboxItem, item_id)
    if item is not None and item.message_id is not None:
        await session.execute(update(Message).where(Message.id == item.message_id).values(delivery_state="failed"))


async def mark_unreachable(*, session: AsyncSession, org_id: int | None, channel: str, target: str) -> None:
    await session.execute(
        update(ChannelIdentity)
        .where(ChannelIdentity.org_id == org_id, ChannelIdentity.channel == channel, ChannelIdentity.external_id == target)
        .values(reachable=False)
    )


async def backlog(*, session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(OutboxItem).where(OutboxItem.state.in_(ACTIVE))) or 0)


async def reply_payloads(*, session: AsyncSession, message_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The outbox payloads of these outbound messages (buttons, cards), by message id."""
    if not message_ids:
        return {}
    rows = await session.execute(select(OutboxItem.message_id, OutboxItem.payload).where(OutboxItem.message_id.in_(message_ids)))
    return {message_id: payload for message_id, payload in rows if message_id is not None}
