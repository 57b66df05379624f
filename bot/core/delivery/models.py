"""The outbox: one row per outbound delivery, before any platform sees it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.common.clock import now
from bot.core.storage.base import Base, Id
from bot.core.storage.tenancy import OrgScoped

STATES = ("pending", "sending", "sent", "failed")  # an outbox item's: waiting, claimed by a sender, then done or given up


class OutboxItem(OrgScoped, Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_queue", "state", "channel", "target", "id"),
        Index("ix_outbox_due", "state", "channel", "next_attempt_at", "id"),  # claims read due items in due order
        Index("ix_outbox_message", "message_id"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), nullable=True, index=True)
    channel: Mapped[str] = mapped_column(String(20))
    target: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), nullable=True)
    state: Mapped[str] = mapped_column(String(10), default="pending")  # one of STATES
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    sends: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # recorded deliveries; >1 is a duplicate
    platform_message_id: Mapped[str | None] = mapped_column(String(100), nullable=True)

