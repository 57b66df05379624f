"""Customer and agent files: getFile, download, attachment storage, with Telegram's 20 MB bot limit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import Message

from bot.core.conversations.events import IncomingFile
from bot.core.files.attachments import store_attachment
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
    label: str = ""  # voice, audio, video: what the agent sees with the playable file
    playable: bool = False  # audio and video are fetched whatever the upload type allowlist says


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
    return media_info(message)


def media_info(message: Message) -> FileInfo | None:
    """Voice, audio, video and round video notes: stored as files the agent can play."""
    n = message.message_id
    if message.voice:
        v = message.voice
        mime = _media_mime(v.mime_type, "audio/ogg", "audio/")
        return FileInfo(v.file_id, f"voice_{n}.ogg", mime, v.file_size, "file", f"🎤 Voice message ({v.duration} s)", True)
    if message.audio:
        a = message.audio
        title = " – ".join(x for x in (a.performer, a.title) if x) or a.file_name or "audio"
        mime = _media_mime(a.mime_type, "audio/mpeg", "audio/")
        return FileInfo(a.file_id, a.file_name or f"audio_{n}.mp3", mime, a.file_size, "file", f"🎵 {title} ({a.duration} s)", True)
    if message.video:
        vid = message.video
        mime = _media_mime(vid.mime_type, "video/mp4", "video/")
        return FileInfo(vid.file_id, vid.file_name or f"video_{n}.mp4", mime, vid.file_size, "file", f"🎬 Video ({vid.duration} s)", True)
    if message.video_note:
        vn = message.video_note
        return FileInfo(vn.file_id, f"video_note_{n}.mp4", "video/mp4", vn.file_size, "file", f"🎬 Video message ({vn.duration} s)", True)
    return None


def _media_mime(given: str | None, default: str, family: str) -> str:
    mime = (given or default).lower()
    return mime if mime.startswith(family) else default


def download_limit(channel: TelegramChannel) -> int:
    return min(channel.config.max_download_bytes, TELEGRAM_BOT_DOWNLOAD_LIMIT)


async def fetch_file(channel: TelegramChannel, info: FileInfo, *, org_id: int, customer_id: int | None = None) -> IncomingFile:
    """Downloads into attachment storage. Raises FileRefused for a file too large or of a refused type."""
    limit = download_limit(channel)
    if info.size is not None and info.size > limit:
        raise FileRefused("too_large", info, limit)
    if not info.playable and info.mime_type not in channel.ctx.settings.webchat.allowed_mime_types:
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
