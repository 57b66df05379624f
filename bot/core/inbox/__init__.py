"""The agents' inbox beyond the first page: one row by conversation id, for the live inbox to insert."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.conversations import InboxRow
from bot.core.errors import NotFound
from bot.core.models import Conversation, Customer


async def get_inbox_row(*, session: AsyncSession, org_id: int, conversation_id: int) -> InboxRow:
    """Tenant-checked: another organization's conversation is indistinguishable from a missing one."""
    row = (
        await session.execute(
            select(Conversation, Customer.name)
            .join(Customer, Customer.id == Conversation.customer_id)
            .where(Conversation.org_id == org_id, Conversation.id == conversation_id)
        )
    ).first()
    if row is None:
        raise NotFound("no such conversation")
    conv, name = row
    return InboxRow(
        conversation_id=conv.id,
        customer_id=conv.customer_id,
        customer_name=name or f"Visitor #{conv.customer_id}",
        channel=conv.channel,
        status=conv.status,
        unread=conv.unread_count,
        waiting_since=conv.waiting_since,
        preview=conv.last_message_preview,
        assignee_id=conv.assignee_id,
        last_activity_at=conv.last_activity_at,
    )
