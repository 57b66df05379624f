"""Labels, priority and snooze of conversations (tables `conversation_labels`, `conversation_triage`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.storage.base import Base, Id
from bot.core.storage.tenancy import OrgScoped


class ConversationLabel(OrgScoped, Base):
    __tablename__ = "conversation_labels"
    __table_args__ = (UniqueConstraint("conversation_id", "label"), Index("ix_conversation_labels_org_label", "org_id", "label"))
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(40))


class ConversationTriage(OrgScoped, Base):
    """Priority and snooze of a conversation (a row only once an agent sets one)."""

    __tablename__ = "conversation_triage"
    __table_args__ = (Index("ix_conversation_triage_snoozed", "snoozed_until"),)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    priority: Mapped[str] = mapped_column(String(10), default="normal")  # low | normal | high | urgent
    snoozed_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
