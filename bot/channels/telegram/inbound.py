"""Telegram updates -> normalized inbound events. One router per channel instance (aiogram routers attach once)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from bot.channels.telegram.edits import edit_key, on_agent_edit
from bot.channels.telegram.files import file_info
from bot.channels.telegram.media import on_file, on_other
from bot.channels.telegram.notices import notify
from bot.channels.telegram.store import CHANNEL, apply_edit, consume_link_code, set_chat_org, set_reachable
from bot.channels.telegram.topics import mirrored_org_id, queue_topic_edit
from bot.core.common.errors import DomainError, InvalidInput, NotFound
from bot.core.conversations.events import InboundEvent
from bot.core.conversations.ingest_batch import IngestResult
from bot.core.conversations.serialize import message_json
from bot.core.orgs.organizations import get_organization_by_slug
from bot.core.storage.db import transaction
from bot.i18n import error_text

if TYPE_CHECKING:
    from bot.channels.telegram.runtime import TelegramChannel

log = logging.getLogger(__name__)
TRANSIENT_INGEST = "the message could not be stored"  # the ingestor's wording for a database failure


async def _private(message: Message) -> bool:
    return message.chat.type == "private"


def build_router(channel: TelegramChannel) -> Router:
    """Filters are coroutines: aiogram runs a plain callable (a magic filter `F.chat.type == ...` included) in a
    worker thread, a thread hop per filter per update (tests/channels/telegram/test_edges.py checks)."""
    router = Router(name="telegram-inbound")
    agents_chat = channel.config.agents_chat_id

    async def in_agents_chat(message: Message) -> bool:
        return agents_chat is not None and message.chat.id == agents_chat

    @router.message(_private)
    async def private_message(message: Message) -> None:
        await on_customer_message(channel, message)

    @router.edited_message(_private)
    async def private_edit(message: Message) -> None:
        await on_edit(channel, message)

    @router.callback_query()
    async def button(callback: CallbackQuery) -> None:
        await on_callback(channel, callback)

    @router.message(in_agents_chat)
    async def agents_topic(message: Message) -> None:
        from bot.channels.telegram.topics import on_agent_message

        await on_agent_message(channel, message)

    @router.edited_message(in_agents_chat)
    async def agents_topic_edit(message: Message) -> None:
        await on_agent_edit(channel, message)

    @router.message()
    async def other_chat(message: Message) -> None:
        log.debug("telegram: ignored a message in %s chat %s", message.chat.type, message.chat.id)

    return router


async def org_for_chat(channel: TelegramChannel, chat_id: int) -> int:
    return await channel.chat_orgs.get(chat_id)


def _base(message: Message, org_id: int) -> dict[str, Any]:
    user = message.from_user
    locale = (user.language_code or "")[:2] if user else ""
    return {
        "org_id": org_id,
        "channel": CHANNEL,
        "external_id": str(message.chat.id),
        "platform_message_id": str(message.message_id),
        "display_name": (user.full_name if user else message.chat.full_name)[:200],
        "locale": locale or None,
    }


def _throttled(channel: TelegramChannel, chat_id: int) -> tuple[bool, bool]:
    """(drop this update, tell the user to slow down). The notice goes once per flood."""
    key = str(chat_id)
    if channel.flood.blocked(key):
        first = key not in channel.flooded
        channel.flooded.add(key)
        return True, first
    channel.flooded.discard(key)
    channel.flood.hit(key)
    return False, False


async def on_customer_message(channel: TelegramChannel, message: Message) -> None:
    chat_id = message.chat.id
    drop, tell = _throttled(channel, chat_id)
    if drop:
        if tell:  # once per flood, like the notice: a line per dropped update made a flood a flood of log lines
            log.warning("telegram: chat %s is flooding; its updates are dropped until it slows down (first: message %s)",
                        chat_id, message.message_id)
            await notify(channel, chat_id=chat_id, key=f"flood:{chat_id}:{message.message_id}", template="telegram_slow_down")
        return
    text = message.text or ""
    if text.startswith("/"):
        await on_command(channel, message, text)
        return
    org_id = await org_for_chat(channel, chat_id)
    base = _base(message, org_id)
    if message.text:
        for event in _text_events(channel, base, message.text):
            await submit(channel, event, message)
    elif message.location:
        await submit(
            channel,
            InboundEvent(kind="location", latitude=message.location.latitude, longitude=message.location.longitude, **base),
            message,
        )
    elif (info := file_info(message)) is not None:
        await on_file(channel, message, base, info, submit)
    else:
        await on_other(channel, message, base, submit)


def _text_events(channel: TelegramChannel, base: dict[str, Any], text: str) -> list[InboundEvent]:
    """A Telegram text (up to 4096) longer than our limit is stored in parts rather than refused."""
    limit = channel.ctx.settings.webchat.max_text_length
    chunks = [text[i : i + limit] for i in range(0, len(text), limit)] or [text]
    events = []
    for index, chunk in enumerate(chunks):
        fields = dict(base)
        if index:
            fields["platform_message_id"] = f"{base['platform_message_id']}.{index}"
        events.append(InboundEvent(kind="text", text=chunk, **fields))
    return events


async def on_command(channel: TelegramChannel, message: Message, text: str) -> None:
    chat_id = message.chat.id
    word, _, arg = text[1:].partition(" ")
    name = word.split("@", 1)[0].lower()
    arg = arg.strip()
    if name == "link":
        await on_link(channel, message, arg)
        return
    if name == "start":
        await _choose_org(channel, message, arg)
        async with transaction(channel.ctx.factory) as session:
            await set_reachable(session=session, chat_id=chat_id)  # a customer who unblocked the bot presses Start
    org_id = await org_for_chat(channel, chat_id)
    await submit(
        channel, InboundEvent(kind="command", text=name or "start", payload=arg[:200], **_base(message, org_id)), message
    )


async def _choose_org(channel: TelegramChannel, message: Message, arg: str) -> None:
    if not arg.startswith("org_"):
        return
    slug = arg[4:].replace("__", "-")[:64]
    try:
        async with transaction(channel.ctx.factory) as session:
            org = await get_organization_by_slug(session=session, slug=slug)
            await set_chat_org(session=session, chat_id=message.chat.id, org_id=org.id)
    except NotFound:
        log.info("telegram: /start with unknown organization from chat %s", message.chat.id)
        await notify(
            channel,
            chat_id=message.chat.id,
            key=f"org:{message.chat.id}:{message.message_id}",
            template="telegram_unknown_org",
            slug=slug,
        )
        return
    await channel.chat_orgs.chose(message.chat.id, org.id)


async def submit(channel: TelegramChannel, event: InboundEvent, message: Message | None = None) -> IngestResult | None:
    """Store the event; a domain refusal is told to the customer (None), a storage failure is raised for a retry."""
    try:
        return await channel.ctx.ingestor.submit(event)
    except DomainError as exc:
        if exc.status >= 500 or exc.message == TRANSIENT_INGEST:  # storage down or restarting: not the customer's fault
            raise RuntimeError(f"telegram: ingest unavailable ({exc.code}); the update will be retried") from None
        await _refused(channel, event, exc)
        return None


async def _refused(channel: TelegramChannel, event: InboundEvent, exc: DomainError) -> None:
    log.info("telegram: %s event from chat %s refused: %s", event.kind, event.external_id, exc.code)
    await notify(
        channel,
        chat_id=int(event.external_id),
        key=f"refused:{event.external_id}:{event.platform_message_id}",
        template="telegram_refused",
        locale=event.locale,
        org_id=event.org_id,
        reason=error_text(exc, event.locale or "en"),
    )


async def on_edit(channel: TelegramChannel, message: Message) -> None:
    text = message.text or message.caption
    if text is None:
        return
    org_id = await org_for_chat(channel, message.chat.id)
    mirrored_org = await mirrored_org_id(channel)
    async with transaction(channel.ctx.factory) as session:
        stored = await apply_edit(
            session=session,
            org_id=org_id,
            chat_id=message.chat.id,
            platform_message_id=str(message.message_id),
            text=text[: channel.ctx.settings.webchat.max_text_length],
        )
        mirrored = stored is not None and await queue_topic_edit(
            channel, session=session, message=stored, key=edit_key(message, stored.text), mirrored_org=mirrored_org
        )
    if stored is None:
        log.info("telegram: edit of an unknown message %s in chat %s ignored", message.message_id, message.chat.id)
        return
    await channel.ctx.hub.publish(f"conv:{stored.conversation_id}", {"type": "message_edited", "message": message_json(stored)})
    if mirrored:
        channel.ctx.dispatcher.wake()


async def on_callback(channel: TelegramChannel, callback: CallbackQuery) -> None:
    message = callback.message
    try:
        await callback.answer()  # stops the button's spinner; not worth failing the update over
    except Exception as exc:  # noqa: BLE001
        log.info("telegram: answerCallbackQuery failed: %s", type(exc).__name__)
    if not isinstance(message, Message) or message.chat.type != "private" or not callback.data:
        log.info("telegram: callback query without a usable private message ignored")
        return
    label = callback.data
    for row in message.reply_markup.inline_keyboard if message.reply_markup else []:
        for key in row:
            if key.callback_data == callback.data:
                label = key.text
    org_id = await org_for_chat(channel, message.chat.id)
    base = _base(message, org_id)
    base["platform_message_id"] = f"cb:{callback.id}"[:100]
    base["display_name"] = callback.from_user.full_name[:200]
    await submit(channel, InboundEvent(kind="button", text=label[:200], payload=callback.data[:200], **base))


async def on_link(channel: TelegramChannel, message: Message, code: str) -> None:
    """/link CODE from the workbench: this chat receives the agent's notifications (the code is never logged)."""
    try:
        async with transaction(channel.ctx.factory) as session:
            await consume_link_code(session=session, code=code, secret=channel.ctx.settings.secret_key, chat_id=message.chat.id)
    except InvalidInput:
        log.info("telegram: refused a link code from chat %s", message.chat.id)
        await notify(
            channel, chat_id=message.chat.id, key=f"link:{message.chat.id}:{message.message_id}", template="telegram_link_failed"
        )
        return
    log.info("telegram: chat %s linked for notifications", message.chat.id)
    await notify(channel, chat_id=message.chat.id, key=f"link:{message.chat.id}:{message.message_id}", template="telegram_linked")
