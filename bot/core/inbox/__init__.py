"""The agents' inbox beyond the first page: one row by conversation id, for the live inbox to insert."""

from __future__ import annotations

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.errors import NotFound
from bot.core.conversations.models import Conversation
from bot.core.conversations.threads import InboxRow, inbox_row, inbox_rows_query


async def get_inbox_row(*, session: AsyncSession, org_id: int, conversation_id: int) -> InboxRow:
    """Tenant-checked: another organization's conversation is indistinguishable from a missing one."""
    row = (await session.execute(inbox_rows_query(org_id).where(Conversation.id == conversation_id))).first()
    if row is None:
        raise NotFound("no such conversation")
    conv, name = row
    return inbox_row(conv, name)


async def neighbours(*, session: AsyncSession, org_id: int, conversation: Conversation) -> tuple[int | None, int | None]:
    """The conversations just above (newer) and below (older) this one in its inbox tab: keyboard next/previous."""
    same = (Conversation.org_id == org_id, Conversation.status == conversation.status)
    stamp, ident = conversation.last_activity_at, conversation.id
    newer = await session.scalar(
        select(Conversation.id).where(*same, or_(Conversation.last_activity_at > stamp,
                                                 and_(Conversation.last_activity_at == stamp, Conversation.id > ident)))
        .order_by(Conversation.last_activity_at.asc(), Conversation.id.asc()).limit(1)
    )
    older = await session.scalar(
        select(Conversation.id).where(*same, or_(Conversation.last_activity_at < stamp,
                                                 and_(Conversation.last_activity_at == stamp, Conversation.id < ident)))
        .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc()).limit(1)
    )
    return newer, older
