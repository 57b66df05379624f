"""A customer edited or deleted a message on their platform (Slack, and any channel alike).

Guarantees: only a message of that customer's own identity on that channel in that organization is
touched (found by its platform message id); an edit updates the text and marks it edited; a delete
marks it deleted (`deleted_at`) and from then on no surface shows its text or file (see serialize),
while the row stays for what the retention rules keep. Unknown ids change nothing and return None.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.clock import now
from bot.core.models import ChannelIdentity, Message


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
    message.text = text
    message.edited = True
    await session.flush()
    return message


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
            message.deleted_at = now()
            marked.append(message)
    await session.flush()
    return marked
