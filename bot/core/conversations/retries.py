"""Platform retries after a restart (or on another process): seen before any file is fetched, orphans removed.

Guarantees: `already_stored` answers from the database (not a process's memory) whether this identity's
message with this platform id exists, so a retried update or event with a file does not download it again;
`discard_attachment` deletes an attachment row no message refers to, and its file, when a duplicate was
noticed only after the download (two processes racing on one retry).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.conversations.models import ChannelIdentity, Message
from bot.core.files.attachments import attachment_path
from bot.core.files.models import Attachment


async def already_stored(*, session: AsyncSession, org_id: int, channel: str, external_id: str, platform_message_id: str) -> bool:
    identity_ids = select(ChannelIdentity.id).where(
        ChannelIdentity.org_id == org_id, ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
    )
    found = await session.scalar(
        select(Message.id)
        .where(Message.org_id == org_id, Message.identity_id.in_(identity_ids), Message.platform_message_id == platform_message_id)
        .limit(1)
    )
    return found is not None


async def discard_attachment(*, session: AsyncSession, data_dir: Path, org_id: int, attachment_id: int) -> bool:
    """Removes the attachment if no message refers to it; True when removed."""
    attachment = await session.get(Attachment, attachment_id)
    if attachment is None or attachment.org_id != org_id:
        return False
    if await session.scalar(select(Message.id).where(Message.attachment_id == attachment_id).limit(1)) is not None:
        return False
    path = attachment_path(data_dir, attachment)
    await session.execute(delete(Attachment).where(Attachment.id == attachment_id))
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return True
