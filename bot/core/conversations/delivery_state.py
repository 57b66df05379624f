"""How a delivery outcome shows in the thread: the message's delivery state and platform id, and whether the
channel identity can still be reached. Registered with the outbox (bot/core/delivery/outbox.py, `ThreadCopy`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.core.conversations.models import ChannelIdentity, Message
from bot.core.delivery.outbox import keep_thread_copy


class MessageDeliveryState:
    async def sent(self, session: AsyncSession, message_id: int, platform_message_id: str | None) -> None:
        """A platform id that another message of the same identity already holds stays on the outbox item only:
        it is the platform's id, not ours to refuse, and the thread's unique (identity, platform id) must hold."""
        values: dict[str, Any] = {"delivery_state": "sent"}
        if platform_message_id:
            other = aliased(Message)
            taken = (
                select(other.id)
                .where(
                    other.identity_id == Message.identity_id,
                    other.platform_message_id == platform_message_id,
                    other.id != Message.id,
                )
                .exists()
            )
            values["platform_message_id"] = case((taken, Message.platform_message_id), else_=platform_message_id)
        await session.execute(
            update(Message).where(Message.id == message_id).values(**values).execution_options(synchronize_session=False)
        )

    async def failed(self, session: AsyncSession, message_id: int) -> None:
        await session.execute(update(Message).where(Message.id == message_id).values(delivery_state="failed"))

    async def unreachable(self, session: AsyncSession, org_id: int | None, channel: str, target: str) -> None:
        await session.execute(
            update(ChannelIdentity)
            .where(ChannelIdentity.org_id == org_id, ChannelIdentity.channel == channel, ChannelIdentity.external_id == target)
            .values(reachable=False)
        )


keep_thread_copy(MessageDeliveryState())
