"""Tables of organizations and roles: invitations, password resets, certification applications, platform
access grants. Tokens are stored only as SHA-256 hashes; every row that belongs to an organization has org_id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.common.clock import now
from bot.core.models import Base, Id
from bot.core.storage.tenancy import OrgScoped


class Invitation(OrgScoped, Base):
    """An expiring, single-use link that creates an agent of the given role in the organization."""

    __tablename__ = "invitations"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class PasswordReset(OrgScoped, Base):
    """A password-reset link sent by email; single use, expiring."""

    __tablename__ = "password_resets"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), nullable=True, index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class CertificationApplication(OrgScoped, Base):
    """An organization's application: legal name, address, business license file; a platform admin decides."""

    __tablename__ = "certification_applications"
    __table_args__ = (Index("ix_certification_applications_state", "state", "id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    legal_name: Mapped[str] = mapped_column(String(300))
    address: Mapped[str] = mapped_column(String(500))
    license_attachment_id: Mapped[int] = mapped_column(ForeignKey("attachments.id"))
    state: Mapped[str] = mapped_column(String(12), default="submitted")  # submitted | approved | rejected
    reason: Mapped[str] = mapped_column(Text, default="")
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), nullable=True)
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class PlatformAccessGrant(OrgScoped, Base):
    """An organization lets the platform admins read its conversations until expires_at (or revocation)."""

    __tablename__ = "platform_access_grants"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    granted_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), nullable=True)
    reason: Mapped[str] = mapped_column(String(500), default="")
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class Broadcast(OrgScoped, Base):
    """A notice to every reachable customer of an organization: a major policy change, a security incident,
    a transfer or the end of a service. `client_key` makes a double-submitted form one broadcast; `cursor`
    (the last customer id fanned out) makes the fan-out resumable after a restart."""

    __tablename__ = "broadcasts"
    __table_args__ = (UniqueConstraint("org_id", "client_key"), Index("ix_broadcasts_state", "state", "id"))
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    kind: Mapped[str] = mapped_column(String(20))  # policy | incident | transfer | cessation
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    client_key: Mapped[str] = mapped_column(String(64))
    policy_version: Mapped[str] = mapped_column(String(40), default="")
    state: Mapped[str] = mapped_column(String(10), default="draft")  # draft | running | done
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class BroadcastRecipient(OrgScoped, Base):
    """One row per customer told: the unique (broadcast, customer) pair is the "each customer once" guarantee."""

    __tablename__ = "broadcast_recipients"
    __table_args__ = (UniqueConstraint("broadcast_id", "customer_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("channel_identities.id"))
    channel: Mapped[str] = mapped_column(String(20))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), nullable=True)


class AuditArchive(OrgScoped, Base):
    """A whole checkpointed segment of one organization's audit chain moved out of the database (retention).

    The rows up to `last_id` are in the file at `path` (under data_dir, 0600, its SHA-256 in `sha256`); the chain
    left in the database continues from `head_hash`, and `total` counts every event archived so far, so
    verification starts from here and a checkpoint's count still adds up. The delete guard of audit_events lets
    only rows covered by an archive go."""

    __tablename__ = "audit_archives"
    __table_args__ = (Index("ix_audit_archives_org", "org_id", "last_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), nullable=True)
    first_id: Mapped[int] = mapped_column(Id)
    last_id: Mapped[int] = mapped_column(Id)
    count: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


__all__ = ["AuditArchive", "Broadcast", "BroadcastRecipient", "CertificationApplication", "Invitation", "PasswordReset",
           "PlatformAccessGrant"]
