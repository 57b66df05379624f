"""Everything a Telegram customer sends besides text and locations: files and playable media, and the rest.

Guarantees:
- a photo, document, voice message, audio or video is fetched within `max_download_bytes` and stored as a
  file the agent can open or play (audio and video whatever the upload type allowlist; a refused one is
  stored as a note saying what was sent and why it was not received);
- stickers, contacts, dice, polls, games and messages with nothing readable are stored as a short note
  of what they were, so the agent sees the customer sent something; the customer gets the polite
  "what I can read" reply;
- a retried update whose message is already stored (after a restart, or on another process) fetches
  nothing; a file fetched for a message that turned out to be a duplicate is removed again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiogram.types import Message

from bot.channels.telegram.files import FileInfo, FileRefused, fetch_file
from bot.channels.telegram.notices import notify
from bot.core.conversations.events import InboundEvent
from bot.core.conversations.ingest_batch import IngestResult
from bot.core.conversations.retries import already_stored, discard_attachment
from bot.core.storage.db import transaction

if TYPE_CHECKING:
    from bot.channels.telegram.runtime import TelegramChannel

log = logging.getLogger(__name__)
CHANNEL = "telegram"
Submit = Callable[["TelegramChannel", InboundEvent, Message], Awaitable[IngestResult | None]]


def describe(message: Message) -> str:
    """A short, readable note of a message we cannot store as text, a file or a location."""
    if message.sticker:
        return f"[sticker {message.sticker.emoji or ''}]".replace(" ]", "]")
    if message.contact:
        c = message.contact
        name = " ".join(x for x in (c.first_name, c.last_name) if x)
        return f"[contact: {name}, {c.phone_number}]"
    if message.dice:
        return f"[dice {message.dice.emoji}: {message.dice.value}]"
    if message.poll:
        options = " / ".join(o.text for o in message.poll.options)
        return f"[poll: {message.poll.question} — {options}]"[:1000]
    if message.game:
        return f"[game: {message.game.title}]"
    if message.venue:
        return f"[venue: {message.venue.title}, {message.venue.address}]"
    if message.animation:
        return "[animation (GIF)]"
    return "[a message with nothing the bot can read]"


async def on_file(channel: TelegramChannel, message: Message, base: dict[str, Any], info: FileInfo, submit: Submit) -> None:
    async with channel.ctx.factory() as session:
        if await already_stored(session=session, org_id=base["org_id"], channel=CHANNEL, external_id=base["external_id"],
                                platform_message_id=base["platform_message_id"]):
            log.info("telegram: message %s of chat %s is stored already; its file is not fetched again",
                     message.message_id, message.chat.id)
            return
    try:
        incoming = await fetch_file(channel, info, org_id=base["org_id"])
    except FileRefused as exc:
        await _refused(channel, message, base, info, exc, submit)
        return
    caption = (message.caption or "")[: channel.ctx.settings.webchat.max_text_length]
    text = " ".join(x for x in (info.label, caption) if x) or incoming.filename
    result = await submit(channel, InboundEvent(kind=info.kind, text=text, file=incoming, **base), message)  # type: ignore[arg-type]
    if result is None or result.duplicate:  # refused, or stored meanwhile by another process: no orphan file
        async with transaction(channel.ctx.factory) as session:
            await discard_attachment(session=session, data_dir=channel.ctx.settings.data_dir, org_id=base["org_id"],
                                     attachment_id=incoming.attachment_id)


async def _refused(channel: TelegramChannel, message: Message, base: dict[str, Any], info: FileInfo, exc: FileRefused,
                   submit: Submit) -> None:
    log.info("telegram: %s file refused from chat %s (%s)", info.mime_type, message.chat.id, exc.reason)
    mb = (info.size or 0) / (1024 * 1024)
    template = "telegram_file_too_large" if exc.reason == "too_large" else "telegram_file_type"
    await notify(channel, chat_id=message.chat.id, key=f"file:{message.chat.id}:{message.message_id}", template=template,
                 locale=base["locale"], org_id=base["org_id"], size_mb=f"{mb:.1f}", limit_mb=exc.limit // (1024 * 1024),
                 mime=info.mime_type)
    # The agent still sees that a file was attempted: nothing the customer sent disappears silently.
    why = "too large" if exc.reason == "too_large" else "type not accepted"
    what = info.label or info.filename
    note = f"📎 {what} ({info.mime_type}, {mb:.1f} MB) — not received: {why}"
    await submit(channel, InboundEvent(kind="text", text=note, **base), message)


async def on_other(channel: TelegramChannel, message: Message, base: dict[str, Any], submit: Submit) -> None:
    """Stored as a note for the agent, and the customer is told what the bot can read."""
    log.info("telegram: unsupported message type from chat %s", message.chat.id)
    await submit(channel, InboundEvent(kind="text", text=describe(message), **base), message)
    await notify(channel, chat_id=message.chat.id, key=f"unsupported:{message.chat.id}:{message.message_id}",
                 template="telegram_unsupported", locale=base["locale"], org_id=base["org_id"])
