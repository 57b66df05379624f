"""Factories for work-order tests: a customer with a conversation, settings with a simple calendar."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from bot.config import Settings
from bot.core.common import clock
from bot.core.conversations.customers import resolve_identity
from bot.core.conversations.models import Conversation, Customer
from bot.core.conversations.threads import open_conversation_for
from bot.core.storage.db import SessionFactory, transaction

ALWAYS_OPEN = {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def at(moment: datetime) -> None:
    """The clock stands at `moment` until it is set again."""
    clock.set_clock(lambda: moment)


def sla_settings(db_url: str, data_dir: Path, **sla: object) -> Settings:
    """Business time open around the clock in UTC, so expected due times are plain arithmetic."""
    from tests.conftest import make_settings

    return make_settings(
        db_url, data_dir, business_time={"timezone": "UTC", "hours": ALWAYS_OPEN},
        sla={"sweep_seconds": 3600, **sla},
    )


async def make_customer(
    factory: SessionFactory, org_id: int, external_id: str = "c1", channel: str = "webchat"
) -> tuple[Customer, Conversation]:
    async with transaction(factory) as session:
        resolved = await resolve_identity(session=session, org_id=org_id, channel=channel, external_id=external_id, display_name="Ann")
        conversation, _ = await open_conversation_for(session=session, identity=resolved.identity)
    return resolved.customer, conversation
