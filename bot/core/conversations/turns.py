"""One inbound turn as the flows see it, and the runner the ingest writer is handed.

The core never imports the flows: `bot/app.py` hands the ingest writer a `FlowRunner` (the flows layer's
engine), so conversations are stored and answered without an upward import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.core.conversations.events import InboundEvent, Reply
from bot.core.conversations.models import ChannelIdentity, Conversation, Customer
from bot.core.orgs.models import Organization


@dataclass
class Turn:
    """Everything a flow may read or change for one stored inbound event, inside the writer's transaction."""

    session: AsyncSession
    settings: Settings
    org: Organization
    identity: ChannelIdentity
    customer: Customer
    conversation: Conversation
    event: InboundEvent
    new_customer: bool
    new_conversation: bool
    services: dict[str, Any] = field(default_factory=dict)


class FlowRunner(Protocol):
    def stored_text(self, identity: ChannelIdentity, event: InboundEvent) -> str:
        """The text to store for this event (a flow may keep a one-time code out of the thread)."""
        ...

    async def run(self, turn: Turn) -> list[Reply]:
        """The bot's replies to this turn (empty when no flow takes it)."""
        ...


class NoFlows:
    """A runner that stores what was typed and answers nothing (tools and tests that need no bot)."""

    def stored_text(self, identity: ChannelIdentity, event: InboundEvent) -> str:
        return event.text

    async def run(self, turn: Turn) -> list[Reply]:
        return []
