"""Tables of organizations and roles: organizations, agents and their sessions, the per-organization audit chain
and its checkpoints, invitations, password resets, certification applications, platform access grants. Tokens are
stored only as SHA-256 hashes; every row that belongs to an organization has org_id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.common.clock import now
from bot.core.storage.base import Base, Id
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


class Organization(Base):
    __tablename__ = "organizations"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # The name folded for comparison (bot/core/orgs/organizations.py name_key): UNIQUE, so two concurrent
    # sign-ups of "ACME" and "acme" cannot both commit, on SQLite or PostgreSQL.
    name_key: Mapped[str] = mapped_column(String(640), unique=True)
    brand: Mapped[str] = mapped_column(String(200), default="")
    profile: Mapped[str] = mapped_column(Text, default="")
    website: Mapped[str] = mapped_column(String(500), default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    industry: Mapped[str] = mapped_column(String(200), default="")
    certification_state: Mapped[str] = mapped_column(String(20), default="none")  # none|submitted|certified|rejected
    logo_attachment_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    require_admin_totp: Mapped[bool] = mapped_column(Boolean, default=False)
    # Service switches: a key set to False is off (channels, work_orders, rights:<type>, apps); missing is on.
    services: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Business calendar (bot/core/business_time/orgs.py); each falls back to the deployment's `business_time`:
    # timezone "" , business_hours NULL (else weekday -> ["09:00-18:00", ...]), holiday_country NULL ("" = none).
    timezone: Mapped[str] = mapped_column(String(64), default="", server_default="")
    business_hours: Mapped[dict[str, list[str]] | None] = mapped_column(JSON, nullable=True)
    holiday_country: Mapped[str | None] = mapped_column(String(8), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class Agent(OrgScoped, Base):
    """A workbench user. Platform admins belong to no organization: their org_id is NULL (typed so).

    Organization pages and services take the organization from `member_org_id(agent)`
    (bot/core/orgs/permissions.py), which refuses an agent without one; `agent_page` keeps platform admins
    out of those pages in the first place.
    """

    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("org_id", "email"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True, nullable=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="agent")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    totp_secret: Mapped[str] = mapped_column(String(255), default="")  # empty: off; else sealed (bot/core/orgs/totp.py)
    totp_last_step: Mapped[int] = mapped_column(BigInteger, default=0)  # newest accepted code's time step (replay guard)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class AgentSession(Base):
    __tablename__ = "agent_sessions"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class AuditEvent(OrgScoped, Base):
    """Append-only, hash-chained per organization: each row's hash covers the previous one.

    The personal part (subject_id, detail, a customer actor's id) enters the chain only as `personal_digest`
    (salted), so erasure may blank it (and the salt) without breaking the chain; a trigger refuses every other
    UPDATE and every DELETE (triggers of migration 0500)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_org", "org_id", "id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), nullable=True)
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(60))
    subject_type: Mapped[str] = mapped_column(String(40), default="")
    subject_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    prev_hash: Mapped[str] = mapped_column(String(64), default="")
    hash: Mapped[str] = mapped_column(String(64), default="")
    personal_salt: Mapped[str] = mapped_column(String(32), default="")
    personal_digest: Mapped[str] = mapped_column(String(64), default="")
    erased_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class AuditCheckpoint(OrgScoped, Base):
    """The head of one organization's audit chain (last id, its hash, rows up to it) at a point in time:
    deleting the newest rows leaves the checkpointed head missing, which verification reports."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (Index("ix_audit_checkpoints_org", "org_id", "id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), nullable=True)
    head_id: Mapped[int] = mapped_column(Id)
    head_hash: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


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
