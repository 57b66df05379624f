"""The agents' channel: which Slack thread mirrors which conversation; and the customer's current DM thread."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.common.clock import now
from bot.core.storage.base import Base, Id
from bot.core.storage.tenancy import OrgScoped


class SlackThread(OrgScoped, Base):
    __tablename__ = "slack_threads"
    __table_args__ = (UniqueConstraint("channel", "thread_ts"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), unique=True)
    channel: Mapped[str] = mapped_column(String(40))
    thread_ts: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class SlackDmThread(OrgScoped, Base):
    """The thread a customer last wrote in, inside their DM with the bot: replies go there (none: top level)."""

    __tablename__ = "slack_dm_threads"
    __table_args__ = (UniqueConstraint("org_id", "user_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[str] = mapped_column(String(40), index=True)
    thread_ts: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=now)
