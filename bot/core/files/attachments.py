"""Attachment storage: files on disk under the data dir, metadata in the database."""

from __future__ import annotations

import hashlib
import re
import uuid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.errors import InvalidInput, NotFound, PayloadTooLarge, UnsupportedMediaType
from bot.core.files.models import Attachment
from bot.core.storage.files import private_dir, write_private

_UNSAFE = re.compile(r"[^\w.\- ]+")


def safe_filename(name: str) -> str:
    base = Path(name.replace("\\", "/")).name
    cleaned = _UNSAFE.sub("_", base).strip(" .")
    return cleaned[:200] or "file"


def check_upload(*, size: int, mime_type: str, max_bytes: int, allowed: list[str]) -> None:
    if size <= 0:
        raise InvalidInput("the file is empty")
    if size > max_bytes:
        raise PayloadTooLarge("the file is larger than %(mb)s MB", mb=max_bytes // (1024 * 1024) or 1)
    if mime_type not in allowed:
        raise UnsupportedMediaType("files of type %(type)s are not accepted", type=mime_type)


async def store_attachment(
    *,
    session: AsyncSession,
    data_dir: Path,
    org_id: int,
    customer_id: int | None,
    filename: str,
    mime_type: str,
    content: bytes,
) -> Attachment:
    digest = hashlib.sha256(content).hexdigest()
    relative = Path("attachments") / str(org_id) / digest[:2] / f"{uuid.uuid4().hex}"
    path = data_dir / relative
    private_dir(path.parent)
    write_private(path, content)
    attachment = Attachment(
        org_id=org_id,
        customer_id=customer_id,
        filename=safe_filename(filename),
        mime_type=mime_type,
        size=len(content),
        sha256=digest,
        storage_path=str(relative),
    )
    session.add(attachment)
    await session.flush()
    return attachment


async def get_attachment(*, session: AsyncSession, org_id: int, attachment_id: int) -> Attachment:
    attachment = await session.get(Attachment, attachment_id)
    if attachment is None or attachment.org_id != org_id:
        raise NotFound("no such file")
    return attachment


def attachment_path(data_dir: Path, attachment: Attachment) -> Path:
    return data_dir / attachment.storage_path




INLINE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf")


def opens_inline(mime_type: str) -> bool:
    """Images, PDFs and media the agent can play (voice notes, audio, video) open in the browser; other types
    (and SVG, which can carry script) download."""
    return mime_type in INLINE_TYPES or mime_type.startswith(("audio/", "video/"))


def content_disposition(attachment: Attachment) -> str:
    kind = "inline" if opens_inline(attachment.mime_type) else "attachment"
    return f'{kind}; filename="{attachment.filename}"'


async def attachments_by_id(*, session: AsyncSession, org_id: int, ids: list[int]) -> dict[int, Attachment]:
    """Names and types of a thread's files, in one query, tenant-scoped."""
    if not ids:
        return {}
    rows = await session.scalars(select(Attachment).where(Attachment.org_id == org_id, Attachment.id.in_(ids)))
    return {a.id: a for a in rows}
