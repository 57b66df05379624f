"""Tables of privacy rights requests: the request (numbered per organization, with its deadline as data) and
its timeline. After an account is cancelled the request row is the non-identifying tombstone: number, kind,
dates, outcome and a keyed hash of the customer; its personal columns are blanked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.common.clock import now
from bot.core.storage.base import Base, Id
from bot.core.storage.tenancy import OrgScoped


class RightsRequest(OrgScoped, Base):
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


class RightsRequestEvent(OrgScoped, Base):
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


class ThirdPartyApp(OrgScoped, Base):
    """An application of the organization's that receives customers' data only with their separate authorization."""

    __tablename__ = "third_party_apps"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text, default="")
    data_categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    notice_webhook: Mapped[str] = mapped_column(String(500), default="")
    notice_email: Mapped[str] = mapped_column(String(320), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class AppAuthorization(OrgScoped, Base):
    """A customer's current answer for one app; no row means not authorized."""

    __tablename__ = "app_authorizations"
    __table_args__ = (UniqueConstraint("customer_id", "app_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    app_id: Mapped[int] = mapped_column(ForeignKey("third_party_apps.id"), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class DeletionNotice(OrgScoped, Base):
    """A deletion notice to one app that received the customer's data, tracked until the app acknowledges it.
    It names the customer only by the app's pseudonym for them, so it survives the erasure it reports."""

    __tablename__ = "deletion_notices"
    __table_args__ = (UniqueConstraint("request_id", "app_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("rights_requests.id", ondelete="CASCADE"))
    app_id: Mapped[int] = mapped_column(ForeignKey("third_party_apps.id"))
    via: Mapped[str] = mapped_column(String(10))  # webhook | email
    state: Mapped[str] = mapped_column(String(14), default="sent")  # sent | acknowledged
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
