"""Saved search views of agents (table `saved_views`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.common.clock import now
from bot.core.storage.base import Base, Id
from bot.core.storage.tenancy import OrgScoped


class SavedView(OrgScoped, Base):
    """An agent's named search with its filters."""

    __tablename__ = "saved_views"
    __table_args__ = (UniqueConstraint("agent_id", "name"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    query: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
