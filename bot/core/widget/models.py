"""How an organization's embeddable chat widget looks and what it asks first (table `chat_widgets`)."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.storage.base import Base, Id
from bot.core.storage.tenancy import OrgScoped


class ChatWidget(OrgScoped, Base):
    __tablename__ = "chat_widgets"
    org_id: Mapped[int] = mapped_column(Id, ForeignKey("organizations.id"), primary_key=True)
    brand_color: Mapped[str] = mapped_column(String(7), default="#2457c5")
    ask_name: Mapped[bool] = mapped_column(Boolean, default=False)
    ask_email: Mapped[bool] = mapped_column(Boolean, default=False)
