"""One inbound turn as the flows see it, and the runner the ingest writer is handed.

The core never imports the flows: `bot/app.py` hands the ingest writer a `FlowRunner` (the flows layer's
engine), so conversations are stored and answered without an upward import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.core.conversations.events import InboundEvent, Reply
from bot.core.models import ChannelIdentity, Conversation, Customer, Organization


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
    # What the runner's customer_facts() asked the batch's preload to read about this customer (None: not preloaded,
    # e.g. a first contact or an identity linked to another customer earlier in the batch).
    facts: dict[str, Any] | None = None


class FlowRunner(Protocol):
    def customer_facts(self) -> dict[str, ColumnElement[Any]]:
        """SQL expressions correlated to customers.id that the ingest batch's one preload query reads along with each
        known customer, so a flow need not query per message (handed to it as `Turn.facts`)."""
        ...

    def stored_text(self, identity: ChannelIdentity, event: InboundEvent) -> str:
        """The text to store for this event (a flow may keep a one-time code out of the thread)."""
        ...

    async def run(self, turn: Turn) -> list[Reply]:
        """The bot's replies to this turn (empty when no flow takes it)."""
        ...


class NoFlows:
    """A runner that stores what was typed and answers nothing (tools and tests that need no bot)."""

    def customer_facts(self) -> dict[str, ColumnElement[Any]]:
        return {}

    def stored_text(self, identity: ChannelIdentity, event: InboundEvent) -> str:
        return event.text

    async def run(self, turn: Turn) -> list[Reply]:
        return []
