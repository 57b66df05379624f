"""Canned replies of an organization (table `canned_replies`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.common.clock import now
from bot.core.storage.base import Base, Id
from bot.core.storage.tenancy import OrgScoped


class CannedReply(OrgScoped, Base):
    """A reply agents insert with `/shortcut`; `{customer_name}`, `{agent_name}`, `{brand}` are filled in."""

    __tablename__ = "canned_replies"
    __table_args__ = (UniqueConstraint("org_id", "shortcut"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    shortcut: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
