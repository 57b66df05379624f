"""Tables of the Telegram channel: chat -> organization, sent journal, agents' topics and their messages, link codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.common.clock import now
from bot.core.storage.base import Base, Id
from bot.core.storage.tenancy import OrgScoped


class TelegramChat(OrgScoped, Base):
    """The organization a private chat currently talks to (chosen with /start org_<slug>)."""

    __tablename__ = "telegram_chats"
    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class TelegramSent(Base):
    """Journal of what reached Telegram, keyed per outbox message part, so a resend after a crash is skipped."""

    __tablename__ = "telegram_sent"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    platform_message_id: Mapped[str] = mapped_column(String(100), default="")
    sent_at: Mapped[datetime] = mapped_column(DateTime, default=now, index=True)


class TelegramTopic(OrgScoped, Base):
    """The forum topic that mirrors one conversation in the agents' supergroup."""

    __tablename__ = "telegram_topics"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    thread_id: Mapped[int] = mapped_column(BigInteger, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class TelegramTopicMessage(Base):
    """A thread message's copy in an agents' topic: the bot's mirror of it, or the agent's own message that became it.

    Lets a customer's edit reach the mirror and an agent's edit in the topic reach the reply."""

    __tablename__ = "telegram_topic_messages"
    __table_args__ = (UniqueConstraint("chat_id", "topic_message_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    topic_message_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class TelegramLinkCode(OrgScoped, Base):
    """A one-time code an agent sends to the bot to link a chat for notifications. Only its hash is stored."""

    __tablename__ = "telegram_link_codes"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
