"""Edits follow a message across Telegram: an agent's edit in the agents' topic reaches the customer's copy, and
(with topics.queue_topic_edit) a customer's edit reaches its mirror in the topic.

Both travel through the outbox, queued behind the message they edit (one item in flight per chat keeps that
order), so the Telegram id of the copy is looked up at send time, when the copy has surely been sent.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import Message

from bot.channels.telegram.render import MAX_CAPTION, plain, split_text, to_html
from bot.channels.telegram.store import CHANNEL, agent_by_telegram_user, message_of_topic_copy, topic_copy_of
from bot.core.conversations.live import publish_edit
from bot.core.conversations.models import ChannelIdentity
from bot.core.conversations.models import Message as Row
from bot.core.conversations.replies import MAX_REPLY
from bot.core.conversations.serialize import message_json
from bot.core.delivery.outbox import enqueue
from bot.core.delivery.senders import PermanentFailure
from bot.core.storage.db import transaction

if TYPE_CHECKING:
    from bot.channels.telegram.runtime import TelegramChannel

log = logging.getLogger(__name__)


def edit_key(message: Message, text: str) -> str:
    """Names one edit: a redelivered update queues nothing new, two quick edits in one second both go."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return f"{message.chat.id}:{message.message_id}:{message.edit_date or 0}:{digest}"


async def edit_copy(channel: TelegramChannel, chat: str, message_id: int, text_html: str, *, caption: bool = False) -> None:
    """editMessageText (or Caption) through the limiter and the usual error mapping; "not modified" is success."""
    await channel.delivery._slot(chat)
    bot = channel.bot

    async def step(parse_mode: Any) -> Any:
        body = text_html if parse_mode else plain(text_html)
        try:
            if caption:
                return await bot.edit_message_caption(chat_id=chat, message_id=message_id, caption=body, parse_mode=parse_mode)
            return await bot.edit_message_text(chat_id=chat, message_id=message_id, text=body, parse_mode=parse_mode)
        except TelegramBadRequest as exc:
            if "not modified" in exc.message.lower():  # a redelivered edit, or the same text: already right
                return None
            raise

    await channel.delivery.call(chat, step)


async def edit_topic_copy(channel: TelegramChannel, target: str, payload: dict[str, Any]) -> str | None:
    """The mirror edited in place; None when a note must be posted instead (no known copy, deleted, or not text)."""
    async with channel.ctx.factory() as session:
        copy_id = await topic_copy_of(session=session, message_id=int(payload["edit_of"]), chat_id=int(target))
    text = to_html(payload)
    if copy_id is None or len(split_text(text)) > 1:
        return None
    try:
        await edit_copy(channel, target, copy_id, text)
    except PermanentFailure as exc:
        log.info("telegram: mirror %s could not be edited (%s); posting a note instead", copy_id, exc)
        return None
    return str(copy_id)


async def edit_customer_copy(channel: TelegramChannel, target: str, payload: dict[str, Any]) -> str | None:
    """Outbox item of an agent's edit: the reply the customer received is edited, if it was delivered."""
    async with channel.ctx.factory() as session:
        row = await session.get(Row, int(payload["edit_of"]))
    platform_id = row.platform_message_id if row is not None else None
    if not platform_id or not platform_id.isdigit():
        log.info("telegram: reply %s never reached the customer; the edit has nothing to change", payload["edit_of"])
        return None
    await edit_copy(channel, target, int(platform_id), to_html(payload), caption=bool(payload.get("caption")))
    return platform_id


def _one_telegram_message(row: Row) -> bool:
    """Whether the customer's copy is a single Telegram message (a split text has several: those stay as sent)."""
    text = to_html({"text": row.text})
    if row.attachment_id is not None:
        return len(text) <= MAX_CAPTION  # the sender puts such text in the file's caption
    return len(split_text(text)) == 1


async def on_agent_edit(channel: TelegramChannel, message: Message) -> None:
    """An agent edited, in the topic, a message that became their reply: the reply and the customer's copy follow."""
    user = message.from_user
    new_text = message.text if message.text is not None else message.caption
    if not message.message_thread_id or user is None or user.is_bot or new_text is None:
        return
    text = new_text.strip()
    key = f"tgedit:{edit_key(message, text)}"
    async with transaction(channel.ctx.factory) as session:
        row = await message_of_topic_copy(session=session, chat_id=message.chat.id, topic_message_id=message.message_id)
        agent = await agent_by_telegram_user(session=session, org_id=row.org_id, user_id=user.id) if row else None
        if row is None or agent is None or row.author_agent_id != agent.id or row.direction != "out":
            log.info("telegram: edit of topic message %s is not of a linked agent's reply; ignored", message.message_id)
            return
        if (not text and row.attachment_id is None) or len(text) > MAX_REPLY or text == row.text:
            log.info("telegram: edit of reply %d left as it was (empty, too long or unchanged)", row.id)
            return
        editable = _one_telegram_message(row)
        row.text, row.edited = text, True
        identity = await session.get(ChannelIdentity, row.identity_id) if row.identity_id else None
        if identity is not None and identity.channel == CHANNEL and editable:
            payload = {
                "text": text,
                "kind": "text",
                "edit_of": row.id,
                "caption": row.attachment_id is not None,
                "conversation_id": row.conversation_id,
                "dedup_key": key,
            }
            await enqueue(
                session=session, channel=CHANNEL, target=identity.external_id, payload=payload, idempotency_key=key, org_id=row.org_id
            )
        elif identity is not None and identity.channel == CHANNEL:
            log.info("telegram: reply %d went out in several parts; the customer's copy is not edited", row.id)
        body = message_json(row)
        customer_id = identity.customer_id if identity is not None else None
    await publish_edit(channel.ctx.hub, conversation_id=body["conversation_id"], customer_id=customer_id, message=body)
    channel.ctx.dispatcher.wake()
