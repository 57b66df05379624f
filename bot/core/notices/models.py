"""Policy versions, and broadcasts of policy, incident, transfer and cessation notices."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
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


class PolicyVersion(Base):
    __tablename__ = "policy_versions"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    version: Mapped[str] = mapped_column(String(40), unique=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    major: Mapped[bool] = mapped_column(Boolean, default=False)
    published_at: Mapped[datetime] = mapped_column(DateTime, default=now)


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

