"""Agents' topics: each conversation of the agents' organization has a forum topic in the agents' supergroup.

Thread messages (customer, bot, agent, notes) are mirrored into the topic through the outbox
(idempotency key per message, so several processes never mirror twice); an agent's message in the
topic becomes that agent's reply to the customer. A deleted topic is recreated on the next mirror.
A customer's edit edits the mirror (or posts an "(edited)" note when the mirror's id is unknown);
an agent's edit in the topic is applied by edits.on_agent_edit.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.telegram.edits import edit_topic_copy
from bot.channels.telegram.files import FileRefused, fetch_file, file_info
from bot.channels.telegram.notices import notify
from bot.channels.telegram.render import split_text, to_html
from bot.channels.telegram.sender import TopicGone
from bot.channels.telegram.store import (
    TOPICS_CHANNEL,
    agent_by_telegram_user,
    forget_topic,
    journal_get,
    journal_put,
    mark_mirrored,
    save_topic,
    save_topic_copy,
    topic_by_thread,
    topic_for,
)
from bot.core.common.errors import DomainError, NotFound
from bot.core.conversations.live import publish_message
from bot.core.conversations.models import Conversation, Customer
from bot.core.conversations.models import Message as Row
from bot.core.conversations.replies import reply_as_agent
from bot.core.conversations.serialize import message_json
from bot.core.conversations.threads import get_conversation
from bot.core.delivery.outbox import enqueue
from bot.core.delivery.senders import RetryLater
from bot.core.orgs.models import Agent
from bot.core.orgs.organizations import get_organization_by_slug
from bot.core.storage.db import transaction

if TYPE_CHECKING:
    from bot.channels.telegram.runtime import TelegramChannel

log = logging.getLogger(__name__)


async def agents_org_id(channel: TelegramChannel) -> int:
    if channel.agents_org_id is None:
        slug = channel.config.agents_org or channel.config.default_org
        async with channel.ctx.factory() as session:
            channel.agents_org_id = (await get_organization_by_slug(session=session, slug=slug)).id
    return channel.agents_org_id


def mirror_text(message: dict[str, Any], agent_name: str) -> str:
    direction, author = message.get("direction"), message.get("author")
    if direction == "note":
        head = f"📝 Note by {agent_name or 'agent'}"
    elif author == "customer":
        head = "👤 Customer"
    elif author == "agent":
        head = f"🧑‍💼 {agent_name or 'Agent'}"
    else:
        head = "🤖 Bot"
    body = str(message.get("text") or "")
    if message.get("latitude") is not None:
        body = f"📍 {message['latitude']:.5f}, {message['longitude']:.5f}\n{body}".strip()
    return f"{head}{' (edited)' if message.get('edited') else ''}\n{body}".strip()


async def mirror_loop(channel: TelegramChannel) -> None:
    sub = channel.ctx.hub.subscribe("messages")
    try:
        async for event in sub:
            try:
                await mirror(channel, event)
            except Exception:  # noqa: BLE001 - one bad event must not stop the mirror
                log.exception("telegram: mirroring a message to the agents' topic failed")
    finally:
        sub.close()


async def mirror(channel: TelegramChannel, event: dict[str, Any]) -> None:
    message = event.get("message") or {}
    if event.get("org_id") != await agents_org_id(channel) or message.get("id") is None:
        return
    async with transaction(channel.ctx.factory) as session:
        payload = await topic_payload(session=session, conversation_id=int(event["conversation_id"]), message=message)
        if payload is None:
            return
        # mirror_of: the sender records the mirror's Telegram id, so a later edit can change it in place.
        payload.update(dedup_key=f"tgtopic:{message['id']}", mirror_of=message["id"])
        await enqueue(
            session=session,
            channel=TOPICS_CHANNEL,
            target=str(channel.config.agents_chat_id),
            payload=payload,
            idempotency_key=f"tgtopic:{message['id']}",
            org_id=payload["org_id"],
        )
    channel.ctx.dispatcher.wake()


async def topic_payload(*, session: AsyncSession, conversation_id: int, message: dict[str, Any]) -> dict[str, Any] | None:
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        return None
    agent_name = str(message.get("agent_name") or "")
    if not agent_name and message.get("author") == "agent":
        agent_name = await _agent_name(session, message)
    customer = await session.get(Customer, conversation.customer_id)
    return {
        "text": mirror_text(message, agent_name),
        "conversation_id": conversation.id,
        "org_id": conversation.org_id,
        "attachment_id": message.get("attachment_id"),
        "title": f"#{conversation.id} {(customer.name if customer else '') or 'Customer'} · {conversation.channel}",
    }


async def mirrored_org_id(channel: TelegramChannel) -> int | None:
    """The organization whose conversations have topics; None without an agents' chat (or with a bad agents_org,
    which the mirror loop reports)."""
    if channel.config.agents_chat_id is None:
        return None
    try:
        return await agents_org_id(channel)
    except NotFound:
        return None


async def queue_topic_edit(channel: TelegramChannel, *, session: AsyncSession, message: Row, key: str, mirrored_org: int | None) -> bool:
    """A customer edited a message: its mirror is edited, or a short note posted when the mirror cannot be.

    Queued in the edit's own transaction, behind the mirror itself; the caller wakes the dispatcher."""
    if mirrored_org is None or message.org_id != mirrored_org:
        return False
    payload = await topic_payload(session=session, conversation_id=message.conversation_id, message=message_json(message))
    if payload is None:
        return False
    payload.update(
        attachment_id=None,  # an edit changes words only; the note must not send the file again
        edit_of=message.id,
        note=f"👤 Customer\n(edited) {message.text}",
        dedup_key=f"tgtopicedit:{key}",
    )
    await enqueue(
        session=session,
        channel=TOPICS_CHANNEL,
        target=str(channel.config.agents_chat_id),
        payload=payload,
        idempotency_key=f"tgtopicedit:{key}",
        org_id=message.org_id,
    )
    return True


async def _agent_name(session: AsyncSession, message: dict[str, Any]) -> str:
    row = await session.get(Row, int(message["id"]))
    agent = await session.get(Agent, row.author_agent_id) if row is not None and row.author_agent_id else None
    return agent.name if agent else ""


class TopicSender:
    """Outbox channel `telegram_topics`: target is the agents' chat; the topic is found or made per conversation."""

    channel = TOPICS_CHANNEL

    def __init__(self, channel: TelegramChannel) -> None:
        self.tg = channel

    async def send(self, target: str, payload: dict[str, Any]) -> str | None:
        if payload.get("skip"):
            return None
        if payload.get("edit_of") is not None:
            edited = await edit_topic_copy(self.tg, target, payload)
            if edited is not None:
                return edited
            payload = {**payload, "text": payload.get("note") or payload.get("text"), "dedup_key": f"{payload['dedup_key']}:note"}
        conversation_id = int(payload["conversation_id"])
        for _ in range(2):
            thread_id = await self._thread(target, conversation_id, payload)
            try:
                sent = await self.tg.delivery.deliver(target, payload, f"{payload.get('dedup_key')}@{thread_id}", thread_id)
            except TopicGone:
                log.warning("telegram: topic %s of conversation %d is gone; recreating it", thread_id, conversation_id)
                async with transaction(self.tg.ctx.factory) as session:
                    await forget_topic(session=session, conversation_id=conversation_id)
                continue
            await self._remember(target, payload, sent)
            return sent
        raise RetryLater("the agents' topic vanished twice")

    async def _remember(self, target: str, payload: dict[str, Any], sent: str | None) -> None:
        """Record the mirror's id when it is one plain text message (the only kind an edit can change in place)."""
        if payload.get("mirror_of") is None or not sent or payload.get("attachment_id") or len(split_text(to_html(payload))) > 1:
            return
        try:
            async with transaction(self.tg.ctx.factory) as session:
                await save_topic_copy(
                    session=session, message_id=int(payload["mirror_of"]), chat_id=int(target), topic_message_id=int(sent)
                )
        except Exception:  # noqa: BLE001 - the mirror is sent; failing here would send it twice. Its edits become notes.
            log.exception("telegram: could not record the id of mirror %s", sent)

    async def _thread(self, target: str, conversation_id: int, payload: dict[str, Any]) -> int:
        async with self.tg.ctx.factory() as session:
            topic = await topic_for(session=session, conversation_id=conversation_id)
        if topic is not None:
            return int(topic.thread_id)
        await self.tg.delivery._slot(target)
        bot = self.tg.bot
        name = str(payload.get("title") or f"#{conversation_id}")[:128]
        created = await self.tg.delivery.call(target, lambda _mode: bot.create_forum_topic(chat_id=target, name=name))
        async with transaction(self.tg.ctx.factory) as session:
            await save_topic(
                session=session,
                org_id=int(payload["org_id"]),
                conversation_id=conversation_id,
                chat_id=int(target),
                thread_id=created.message_thread_id,
            )
        return int(created.message_thread_id)


async def on_agent_message(channel: TelegramChannel, message: Message) -> None:
    """A message in the agents' supergroup: inside a conversation's topic it is that agent's reply."""
    thread_id = message.message_thread_id
    user = message.from_user
    info = file_info(message)
    if not thread_id or user is None or user.is_bot or not (message.text or info):
        return
    async with channel.ctx.factory() as session:
        topic = await topic_by_thread(session=session, chat_id=message.chat.id, thread_id=thread_id)
        agent = await agent_by_telegram_user(session=session, org_id=topic.org_id, user_id=user.id) if topic else None
        done = await journal_get(session=session, key=f"tgin:{message.chat.id}:{message.message_id}")
    if topic is None or done is not None:
        return
    if agent is None:
        log.info("telegram: reply in topic %s from an unlinked Telegram user refused", thread_id)
        await notify(
            channel,
            chat_id=message.chat.id,
            thread_id=thread_id,
            key=f"unlinked:{message.chat.id}:{message.message_id}",
            template="telegram_agent_not_linked",
        )
        return
    attachment_id = None
    if info is not None:
        try:
            attachment_id = (await fetch_file(channel, info, org_id=topic.org_id)).attachment_id
        except FileRefused:
            log.info("telegram: agent's file in topic %s refused (too large or type)", thread_id)
    text = message.text or message.caption or ""
    try:
        async with transaction(channel.ctx.factory) as session:
            conversation = await get_conversation(session=session, org_id=topic.org_id, conversation_id=topic.conversation_id)
            reply = await reply_as_agent(
                session=session, conversation=conversation, agent=agent, text=text, attachment_id=attachment_id
            )
            await mark_mirrored(session=session, message_id=reply.id, org_id=topic.org_id, chat_id=message.chat.id)
            await journal_put(
                session=session, key=f"tgin:{message.chat.id}:{message.message_id}", platform_message_id=str(reply.id)
            )
            await save_topic_copy(
                session=session, message_id=reply.id, chat_id=message.chat.id, topic_message_id=message.message_id
            )
    except (DomainError, NotFound) as exc:
        log.info("telegram: agent's reply in topic %s refused: %s", thread_id, exc.code)
        return
    body = dict(message_json(reply), agent_name=agent.name)
    await publish_message(
        channel.ctx.hub, org_id=topic.org_id, conversation_id=topic.conversation_id, customer_id=None, message=body
    )
    channel.ctx.dispatcher.wake()
