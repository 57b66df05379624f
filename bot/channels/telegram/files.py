"""Customer and agent files: getFile, download, attachment storage, with Telegram's 20 MB bot limit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import Message

from bot.core.conversations.attachments import store_attachment
from bot.core.conversations.events import IncomingFile
from bot.core.storage.db import transaction

if TYPE_CHECKING:
    from bot.channels.telegram.runtime import TelegramChannel

TELEGRAM_BOT_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # the Bot API serves no bigger file to bots


@dataclass(frozen=True)
class FileInfo:
    file_id: str
    filename: str
    mime_type: str
    size: int | None
    kind: str  # photo | file


class FileRefused(Exception):
    def __init__(self, reason: str, info: FileInfo, limit: int) -> None:
        super().__init__(reason)
        self.reason = reason  # too_large | type
        self.info = info
        self.limit = limit


def file_info(message: Message) -> FileInfo | None:
    if message.photo:
        photo = message.photo[-1]  # the largest size
        return FileInfo(photo.file_id, f"photo_{message.message_id}.jpg", "image/jpeg", photo.file_size, "photo")
    if message.document:
        doc = message.document
        mime = (doc.mime_type or "application/octet-stream").lower()
        return FileInfo(doc.file_id, doc.file_name or "file", mime, doc.file_size, "file")
    return None


def download_limit(channel: TelegramChannel) -> int:
    return min(channel.config.max_download_bytes, TELEGRAM_BOT_DOWNLOAD_LIMIT)


async def fetch_file(channel: TelegramChannel, info: FileInfo, *, org_id: int, customer_id: int | None = None) -> IncomingFile:
    """Downloads into attachment storage. Raises FileRefused for a file too large or of a refused type."""
    limit = download_limit(channel)
    if info.size is not None and info.size > limit:
        raise FileRefused("too_large", info, limit)
    if info.mime_type not in channel.ctx.settings.webchat.allowed_mime_types:
        raise FileRefused("type", info, limit)
    try:
        remote = await channel.bot.get_file(info.file_id)
    except TelegramBadRequest as exc:
        if "too big" in exc.message.lower():
            raise FileRefused("too_large", info, limit) from None
        raise
    if (remote.file_size or 0) > limit or not remote.file_path:
        raise FileRefused("too_large", info, limit)
    buffer = await channel.bot.download_file(remote.file_path, timeout=int(channel.config.request_timeout_seconds))
    content = buffer.read() if buffer is not None else b""
    if len(content) > limit:
        raise FileRefused("too_large", info, limit)
    async with transaction(channel.ctx.factory) as session:
        attachment = await store_attachment(
            session=session,
            data_dir=channel.ctx.settings.data_dir,
            org_id=org_id,
            customer_id=customer_id,
            filename=info.filename,
            mime_type=info.mime_type,
            content=content,
        )
    return IncomingFile(attachment.id, attachment.filename, info.mime_type, attachment.size)
