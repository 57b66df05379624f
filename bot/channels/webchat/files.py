"""Web chat uploads and the visitor's own files."""

from __future__ import annotations

from aiohttp import BodyPartReader, web

from bot.channels.webchat.visitors import CHANNEL, identity_of, org_of, visitor_of
from bot.core.common.errors import InvalidInput, NotFound, PayloadTooLarge, Unauthorized
from bot.core.conversations.events import EventKind, InboundEvent, IncomingFile
from bot.core.conversations.threads import customer_can_see
from bot.core.files.attachments import (
    attachment_path,
    check_upload,
    content_disposition,
    get_attachment,
    store_attachment,
)
from bot.core.storage.db import transaction
from bot.web import CTX


async def upload(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    visitor = visitor_of(request)
    if visitor is None:
        raise Unauthorized("no web chat session; reload the page")
    org = await org_of(ctx, request)
    limits = ctx.settings.webchat
    filename, mime, content = await _read_upload(request, limits.max_upload_bytes)
    check_upload(size=len(content), mime_type=mime, max_bytes=limits.max_upload_bytes, allowed=limits.allowed_mime_types)
    identity = await identity_of(ctx, org.id, visitor)
    async with transaction(ctx.factory) as session:
        attachment = await store_attachment(
            session=session,
            data_dir=ctx.settings.data_dir,
            org_id=org.id,
            customer_id=identity.customer_id if identity else None,
            filename=filename,
            mime_type=mime,
            content=content,
        )
    kind: EventKind = "photo" if mime.startswith("image/") else "file"
    event = InboundEvent(
        org_id=org.id,
        channel=CHANNEL,
        external_id=visitor,
        kind=kind,
        text=attachment.filename,
        file=IncomingFile(attachment.id, attachment.filename, mime, attachment.size),
    )
    result = await ctx.ingestor.submit(event)
    return web.json_response({"type": "ack", "message": result.message})


async def _read_upload(request: web.Request, max_bytes: int) -> tuple[str, str, bytes]:
    if not request.content_type.startswith("multipart/"):
        raise InvalidInput("send the file as multipart/form-data")
    try:
        return await _read_file_part(request, max_bytes)
    except (ValueError, AssertionError):
        # aiohttp's multipart reader raises these for a body cut short or without a proper boundary
        raise InvalidInput("the upload is incomplete or malformed") from None


async def _read_file_part(request: web.Request, max_bytes: int) -> tuple[str, str, bytes]:
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader) or part.name != "file":
            continue
        chunks: list[bytes] = []
        total = 0
        while chunk := await part.read_chunk(64 * 1024):
            total += len(chunk)
            if total > max_bytes:
                raise PayloadTooLarge("the file is larger than %(mb)s MB", mb=max_bytes // (1024 * 1024) or 1)
            chunks.append(chunk)
        mime = part.headers.get("Content-Type", "application/octet-stream").split(";")[0].strip().lower()
        return part.filename or "file", mime, b"".join(chunks)
    raise InvalidInput("no file in the upload")


async def visitor_file(request: web.Request) -> web.StreamResponse:
    """A visitor may fetch a file only if it is part of their own conversations."""
    ctx = request.app[CTX]
    visitor = visitor_of(request)
    if visitor is None:
        raise Unauthorized("no web chat session")
    org = await org_of(ctx, request)
    identity = await identity_of(ctx, org.id, visitor)
    try:
        attachment_id = int(request.match_info["attachment_id"])
    except ValueError:
        raise NotFound("no such file") from None
    if identity is None:
        raise NotFound("no such file")
    async with ctx.factory() as session:
        attachment = await get_attachment(session=session, org_id=org.id, attachment_id=attachment_id)
        if not await customer_can_see(session=session, attachment_id=attachment_id, customer_id=identity.customer_id):
            raise NotFound("no such file")
    path = attachment_path(ctx.settings.data_dir, attachment)
    return web.FileResponse(
        path,
        headers={
            "Content-Type": attachment.mime_type,
            "Content-Disposition": content_disposition(attachment),
        },
    )
