"""Tables of admin notifications: raised events, one push per target, per-admin preferences."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.common.clock import now
from bot.core.storage.base import Base, Id
from bot.core.storage.tenancy import OrgScoped

# A push's `state` (see NotificationPush); the notifications page shows a queued push's outbox state instead.
PUSH_STATES = ("queued", "delivered", "held", "digested", "read")


class NotificationEvent(OrgScoped, Base):
    """Something admins should know. `dedup_key` makes raising the same fact twice a no-op."""

    __tablename__ = "notification_events"
    __table_args__ = (
        Index("ix_notification_events_org", "org_id", "id"),
        Index("ix_notification_events_subject", "kind", "subject_id"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    kind: Mapped[str] = mapped_column(String(40))
    subject_type: Mapped[str] = mapped_column(String(40), default="")
    subject_id: Mapped[int | None] = mapped_column(Id, nullable=True)
    title: Mapped[str] = mapped_column(String(300))
    url: Mapped[str] = mapped_column(String(500), default="")
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class NotificationPush(OrgScoped, Base):
    """One delivery of an event to one target. Unique per (event, target): a shared target gets it once.

    target_kind workbench: address is the agent id and the row itself is the list entry.
    state: queued (in the outbox; its state is the outbox item's) | delivered | held (quiet hours or
    rate limit: goes out in the digest) | digested (gone out in the digest) | read.
    """

    __tablename__ = "notification_pushes"
    __table_args__ = (
        UniqueConstraint("event_id", "target_kind", "address"),
        Index("ix_notification_pushes_agent", "agent_id", "id"),
        Index("ix_notification_pushes_target", "target_kind", "address", "created_at"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("notification_events.id", ondelete="CASCADE"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), nullable=True)
    target_kind: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(320))
    state: Mapped[str] = mapped_column(String(12), default="queued")
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    read_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class NotificationPreference(OrgScoped, Base):
    """An admin's choices. Empty kinds/targets lists mean 'all'. Quiet hours are HH:MM in UTC."""

    __tablename__ = "notification_preferences"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), unique=True)
    kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    targets: Mapped[list[str]] = mapped_column(JSON, default=list)
    quiet_start: Mapped[str] = mapped_column(String(5), default="")
    quiet_end: Mapped[str] = mapped_column(String(5), default="")
    digest: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str] = mapped_column(String(8), default="en")
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class NotificationTarget(OrgScoped, Base):
    """Where an agent receives pushes: a linked Telegram chat, a Slack user or channel, an email address."""

    __tablename__ = "notification_targets"
    __table_args__ = (UniqueConstraint("agent_id", "kind", "address"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # telegram | slack | email
    address: Mapped[str] = mapped_column(String(320))  # chat id, Slack user/channel id, email
    verified_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)

