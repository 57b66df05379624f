"""A customer edited or deleted a message on their platform (Slack, and any channel alike).

Guarantees: only a message of that customer's own identity on that channel in that organization is
touched (found by its platform message id); an edit updates the text and marks it edited; a delete
marks it deleted (`deleted_at`) and from then on no surface shows its text or file (see serialize),
while the row stays for what the retention rules keep. Unknown ids change nothing and return None.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.clock import now
from bot.core.conversations.models import ChannelIdentity, Conversation, Message
from bot.core.conversations.threads import preview

DELETED_PREVIEW = "(message deleted by the customer)"


async def _own_message(session: AsyncSession, *, org_id: int, channel: str, external_id: str, platform_message_id: str) -> Message | None:
    identity_ids = select(ChannelIdentity.id).where(
        ChannelIdentity.org_id == org_id, ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
    )
    return await session.scalar(
        select(Message).where(
            Message.org_id == org_id, Message.identity_id.in_(identity_ids), Message.platform_message_id == platform_message_id
        )
    )


async def apply_platform_edit(
    *, session: AsyncSession, org_id: int, channel: str, external_id: str, platform_message_id: str, text: str
) -> Message | None:
    message = await _own_message(session, org_id=org_id, channel=channel, external_id=external_id, platform_message_id=platform_message_id)
    if message is None or message.deleted_at is not None:
        return None
    await _follow_preview(session, message, text)
    message.text = text
    message.edited = True
    await session.flush()
    return message


async def _follow_preview(session: AsyncSession, message: Message, replacement: str) -> None:
    """The inbox shows a preview of the last message: when that was this one, it follows the edit or deletion."""
    conversation = await session.get(Conversation, message.conversation_id)
    if conversation is not None and conversation.last_message_preview == preview(message.text):
        conversation.last_message_preview = preview(replacement)


async def mark_platform_deleted(
    *, session: AsyncSession, org_id: int, channel: str, external_id: str, platform_message_ids: list[str]
) -> list[Message]:
    """Marks each of the identity's messages with one of these ids deleted (a platform message with files is
    stored as several rows); returns the ones newly marked."""
    marked = []
    for platform_message_id in platform_message_ids:
        message = await _own_message(
            session, org_id=org_id, channel=channel, external_id=external_id, platform_message_id=platform_message_id
        )
        if message is not None and message.deleted_at is None:
            await _follow_preview(session, message, DELETED_PREVIEW)
            message.deleted_at = now()
            marked.append(message)
    await session.flush()
    return marked
