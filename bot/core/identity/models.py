"""Tables of the identity check: one-time code challenges and the failure counters that lock them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.common.clock import now
from bot.core.storage.base import Base, Id
from bot.core.storage.tenancy import OrgScoped


class VerificationChallenge(OrgScoped, Base):
    """One code sent to one address for one channel identity. Only an HMAC of the code is stored."""

    __tablename__ = "verification_challenges"
    __table_args__ = (
        Index("ix_verification_challenges_identity", "identity_id", "id"),
        Index("ix_verification_challenges_destination", "org_id", "destination", "created_at"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("channel_identities.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # email | sms
    destination: Mapped[str] = mapped_column(String(320))  # normalized address
    code_hash: Mapped[str] = mapped_column(String(64), default="")
    # sending -> sent -> verified | expired | superseded; a failed delivery deletes the row
    state: Mapped[str] = mapped_column(String(12), default="sending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    verified_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class VerificationLock(OrgScoped, Base):
    """Wrong-code counter of one identity (scope `identity`) or one address (scope `destination`)."""

    __tablename__ = "verification_locks"
    __table_args__ = (UniqueConstraint("org_id", "scope", "key"), Index("ix_verification_locks_active", "org_id", "locked_until"))
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    scope: Mapped[str] = mapped_column(String(12))  # identity | destination
    key: Mapped[str] = mapped_column(String(320))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    lock_count: Mapped[int] = mapped_column(Integer, default=0)
