"""Database services of the Telegram channel (keyword-only, taking the session)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.telegram.models import TelegramChat, TelegramLinkCode, TelegramSent, TelegramTopic, TelegramTopicMessage
from bot.core.common.clock import now
from bot.core.common.errors import InvalidInput
from bot.core.conversations.models import ChannelIdentity, Message
from bot.core.delivery.models import OutboxItem
from bot.core.notifications.models import NotificationTarget
from bot.core.orgs.models import Agent

CHANNEL = "telegram"
TOPICS_CHANNEL = "telegram_topics"
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


_CHAT_ORGS = select(TelegramChat.chat_id, TelegramChat.org_id).where(
    TelegramChat.chat_id.in_(bindparam("chats", expanding=True))
)  # built once (a statement rebuilt per call pays for its construction and cache key every time)


async def chat_orgs(*, session: AsyncSession, chat_ids: list[int]) -> dict[int, int]:
    """The organizations chosen by those of `chat_ids` that chose one (one query)."""
    rows = await session.execute(_CHAT_ORGS, {"chats": chat_ids})
    return {int(chat): int(org) for chat, org in rows}


async def chosen_chats(*, session: AsyncSession, most: int) -> set[int] | None:
    """Every chat that chose an organization, or None when there are more than `most`."""
    chats = (await session.scalars(select(TelegramChat.chat_id).limit(most + 1))).all()
    return None if len(chats) > most else {int(chat) for chat in chats}


async def set_chat_org(*, session: AsyncSession, chat_id: int, org_id: int) -> None:
    row = await session.get(TelegramChat, chat_id)
    if row is None:
        session.add(TelegramChat(chat_id=chat_id, org_id=org_id))
    else:
        row.org_id = org_id
        row.updated_at = now()
    await session.flush()


async def journal_get(*, session: AsyncSession, key: str) -> str | None:
    return await session.scalar(select(TelegramSent.platform_message_id).where(TelegramSent.key == key))


async def journal_many(*, session: AsyncSession, keys: list[str]) -> dict[str, str]:
    if not keys:
        return {}
    rows = await session.execute(select(TelegramSent.key, TelegramSent.platform_message_id).where(TelegramSent.key.in_(keys)))
    return {key: platform_id for key, platform_id in rows}


async def journal_put(*, session: AsyncSession, key: str, platform_message_id: str) -> None:
    if await journal_get(session=session, key=key) is None:
        session.add(TelegramSent(key=key, platform_message_id=platform_message_id))
        await session.flush()


async def purge_journal(*, session: AsyncSession, days: int = 14) -> None:
    await session.execute(delete(TelegramSent).where(TelegramSent.sent_at < now() - timedelta(days=days)))


async def apply_edit(*, session: AsyncSession, org_id: int, chat_id: int, platform_message_id: str, text: str) -> Message | None:
    """A customer edited a message on Telegram: update the stored copy and mark it edited."""
    identity_id = select(ChannelIdentity.id).where(
        ChannelIdentity.org_id == org_id, ChannelIdentity.channel == CHANNEL, ChannelIdentity.external_id == str(chat_id)
    )
    message = await session.scalar(
        select(Message).where(Message.identity_id.in_(identity_id), Message.platform_message_id == platform_message_id)
    )
    if message is None:
        return None
    message.text = text
    message.edited = True
    await session.flush()
    return message


async def topic_for(*, session: AsyncSession, conversation_id: int) -> TelegramTopic | None:
    return await session.scalar(select(TelegramTopic).where(TelegramTopic.conversation_id == conversation_id))


async def save_topic(*, session: AsyncSession, org_id: int, conversation_id: int, chat_id: int, thread_id: int) -> None:
    await session.execute(delete(TelegramTopic).where(TelegramTopic.conversation_id == conversation_id))
    session.add(TelegramTopic(org_id=org_id, conversation_id=conversation_id, chat_id=chat_id, thread_id=thread_id))
    await session.flush()


async def forget_topic(*, session: AsyncSession, conversation_id: int) -> None:
    await session.execute(delete(TelegramTopic).where(TelegramTopic.conversation_id == conversation_id))


async def topic_by_thread(*, session: AsyncSession, chat_id: int, thread_id: int) -> TelegramTopic | None:
    return await session.scalar(
        select(TelegramTopic).where(TelegramTopic.chat_id == chat_id, TelegramTopic.thread_id == thread_id)
    )


async def save_topic_copy(*, session: AsyncSession, message_id: int, chat_id: int, topic_message_id: int) -> None:
    exists = await session.scalar(
        select(TelegramTopicMessage.id).where(
            TelegramTopicMessage.chat_id == chat_id, TelegramTopicMessage.topic_message_id == topic_message_id
        )
    )
    if exists is None:
        session.add(TelegramTopicMessage(message_id=message_id, chat_id=chat_id, topic_message_id=topic_message_id))
        await session.flush()


async def topic_copy_of(*, session: AsyncSession, message_id: int, chat_id: int) -> int | None:
    """The id of the newest copy of a thread message in the agents' chat (a recreated topic holds a newer one)."""
    return await session.scalar(
        select(TelegramTopicMessage.topic_message_id)
        .where(TelegramTopicMessage.message_id == message_id, TelegramTopicMessage.chat_id == chat_id)
        .order_by(TelegramTopicMessage.id.desc())
        .limit(1)
    )


async def message_of_topic_copy(*, session: AsyncSession, chat_id: int, topic_message_id: int) -> Message | None:
    return await session.scalar(
        select(Message)
        .join(TelegramTopicMessage, TelegramTopicMessage.message_id == Message.id)
        .where(TelegramTopicMessage.chat_id == chat_id, TelegramTopicMessage.topic_message_id == topic_message_id)
    )


async def agent_by_telegram_user(*, session: AsyncSession, org_id: int, user_id: int) -> Agent | None:
    """The agent who linked this Telegram account (a private chat's id is the user's id)."""
    return await session.scalar(
        select(Agent)
        .join(NotificationTarget, NotificationTarget.agent_id == Agent.id)
        .where(
            NotificationTarget.kind == "telegram",
            NotificationTarget.address == str(user_id),
            Agent.org_id == org_id,
            Agent.active.is_(True),
        )
        .limit(1)
    )


def _code_hash(secret: str, code: str) -> str:
    return hmac.new(secret.encode(), f"tg-link:{code.strip().upper()}".encode(), hashlib.sha256).hexdigest()


async def create_link_code(*, session: AsyncSession, agent: Agent, secret: str, minutes: int) -> str:
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))
    session.add(
        TelegramLinkCode(
            org_id=agent.org_id,
            agent_id=agent.id,
            code_hash=_code_hash(secret, code),
            expires_at=now() + timedelta(minutes=minutes),
        )
    )
    await session.flush()
    return code


async def consume_link_code(*, session: AsyncSession, code: str, secret: str, chat_id: int) -> NotificationTarget:
    """Links the chat to the code's agent once; an unknown, used or expired code is refused alike."""
    row = await session.scalar(select(TelegramLinkCode).where(TelegramLinkCode.code_hash == _code_hash(secret, code)))
    if row is None or row.used_at is not None or row.expires_at < now():
        raise InvalidInput("this link code is unknown or expired")
    row.used_at = now()
    target = await session.scalar(
        select(NotificationTarget).where(
            NotificationTarget.agent_id == row.agent_id,
            NotificationTarget.kind == "telegram",
            NotificationTarget.address == str(chat_id),
        )
    )
    if target is None:
        target = NotificationTarget(org_id=row.org_id, agent_id=row.agent_id, kind="telegram", address=str(chat_id))
        session.add(target)
    target.verified_at = now()
    await session.flush()
    return target


async def linked_chats(*, session: AsyncSession, agent_id: int) -> list[NotificationTarget]:
    rows = await session.scalars(
        select(NotificationTarget).where(NotificationTarget.agent_id == agent_id, NotificationTarget.kind == "telegram")
    )
    return list(rows)


async def unlink_chat(*, session: AsyncSession, agent_id: int, target_id: int) -> None:
    await session.execute(
        delete(NotificationTarget).where(
            NotificationTarget.id == target_id, NotificationTarget.agent_id == agent_id, NotificationTarget.kind == "telegram"
        )
    )


async def outbox_backlog(*, session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(OutboxItem.channel, OutboxItem.state, func.count())
        .where(OutboxItem.channel.in_((CHANNEL, TOPICS_CHANNEL)), OutboxItem.state.in_(("pending", "sending", "failed")))
        .group_by(OutboxItem.channel, OutboxItem.state)
    )
    return {f"{channel} {state}": int(count) for channel, state, count in rows}


async def mark_mirrored(*, session: AsyncSession, message_id: int, org_id: int, chat_id: int) -> None:
    """A reply written in the topic is already there: a sent mirror row stops it being mirrored back."""
    session.add(
        OutboxItem(
            org_id=org_id,
            channel=TOPICS_CHANNEL,
            target=str(chat_id),
            payload={"skip": True},
            idempotency_key=f"tgtopic:{message_id}",
            state="sent",
            sent_at=now(),
        )
    )
    await session.flush()


async def set_reachable(*, session: AsyncSession, chat_id: int) -> None:
    """The customer wrote again (so unblocked the bot): reachable once more."""
    await session.execute(
        update(ChannelIdentity)
        .where(
            ChannelIdentity.channel == CHANNEL, ChannelIdentity.external_id == str(chat_id), ChannelIdentity.reachable.is_(False)
        )
        .values(reachable=True)
    )
