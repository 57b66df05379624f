"""How delivery outcomes show in the thread: each message's delivery state and platform id, and whether the
channel identity can still be reached. Registered with the outbox (bot/core/delivery/outbox.py, `ThreadCopy`);
one statement per kind of write for a whole batch of outcomes (executemany)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table, bindparam, case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.conversations.models import ChannelIdentity, Message
from bot.core.delivery.outbox import keep_thread_copy

MESSAGES: Table = Message.__table__  # type: ignore[assignment]


_OTHER = MESSAGES.alias("other")
_TAKEN = (  # another message of the same identity already holds this platform id
    select(_OTHER.c.id)
    .where(
        _OTHER.c.identity_id == MESSAGES.c.identity_id,
        _OTHER.c.platform_message_id == bindparam("b_pid"),
        _OTHER.c.id != MESSAGES.c.id,
    )
    .exists()
)
# Built once (not per batch): SQLAlchemy keys its compiled-statement cache on a key memoized on the statement.
_SENT_WITH_ID = (
    update(MESSAGES)
    .where(MESSAGES.c.id == bindparam("b_mid"))
    .values(delivery_state="sent", platform_message_id=case((_TAKEN, MESSAGES.c.platform_message_id), else_=bindparam("b_pid")))
)
_SENT_WITHOUT_ID = update(MESSAGES).where(MESSAGES.c.id == bindparam("b_mid")).values(delivery_state="sent")
_FAILED = update(MESSAGES).where(MESSAGES.c.id.in_(bindparam("b_mids", expanding=True))).values(delivery_state="failed")


class MessageDeliveryState:
    async def sent(self, session: AsyncSession, copies: Sequence[tuple[int, str | None]]) -> None:
        """A platform id that another message of the same identity already holds stays on the outbox item only:
        it is the platform's id, not ours to refuse, and the thread's unique (identity, platform id) must hold."""
        with_id = [{"b_mid": mid, "b_pid": pid} for mid, pid in copies if pid]
        without = [{"b_mid": mid} for mid, pid in copies if not pid]
        if with_id:
            await session.execute(_SENT_WITH_ID, with_id)
        if without:
            await session.execute(_SENT_WITHOUT_ID, without)

    async def failed(self, session: AsyncSession, message_ids: Sequence[int]) -> None:
        await session.execute(_FAILED, {"b_mids": list(message_ids)})

    async def unreachable(self, session: AsyncSession, org_id: int | None, channel: str, target: str) -> None:
        await session.execute(
            update(ChannelIdentity)
            .where(ChannelIdentity.org_id == org_id, ChannelIdentity.channel == channel, ChannelIdentity.external_id == target)
            .values(reachable=False)
        )


keep_thread_copy(MessageDeliveryState())
