"""Tables of privacy rights requests: the request (numbered per organization, with its deadline as data) and
its timeline. After an account is cancelled the request row is the non-identifying tombstone: number, kind,
dates, outcome and a keyed hash of the customer; its personal columns are blanked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.clock import now
from bot.core.models import Base, Id


class RightsRequest(Base):
    __tablename__ = "rights_requests"
    __table_args__ = (
        UniqueConstraint("org_id", "number"),
        Index("ix_rights_requests_queue", "org_id", "status", "due_at"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    number: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), nullable=True, index=True)
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("channel_identities.id", ondelete="SET NULL"), nullable=True)
    kind: Mapped[str] = mapped_column(String(20))
    ground: Mapped[str] = mapped_column(String(20), default="")
    status: Mapped[str] = mapped_column(String(20), default="received")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    repeated: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    verified_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    paused_since: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    paused_days: Mapped[int] = mapped_column(Integer, default=0)
    extended_days: Mapped[int] = mapped_column(Integer, default=0)
    extension_reason: Mapped[str] = mapped_column(Text, default="")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), nullable=True)
    outcome_reason: Mapped[str] = mapped_column(Text, default="")
    closed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    backup_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    subject_hash: Mapped[str] = mapped_column(String(64), default="")
    export_path: Mapped[str] = mapped_column(String(500), default="")
    export_state: Mapped[str] = mapped_column(String(12), default="")
    export_progress: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class RightsRequestEvent(Base):
    """One step of a request's timeline: a status change or an action, with actor and reason."""

    __tablename__ = "rights_request_events"
    __table_args__ = (Index("ix_rights_request_events_request", "request_id", "id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("rights_requests.id", ondelete="CASCADE"))
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str] = mapped_column(String(20), default="")
    to_status: Mapped[str] = mapped_column(String(20), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
