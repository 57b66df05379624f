"""Existing customer chats in bulk (a broadcast's recipients), and the outbox as a test reads it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence

from sqlalchemy import func, select

from bot.core.conversations.events import Reply
from bot.core.conversations.models import ChannelIdentity, Conversation, Customer
from bot.core.conversations.outbound import send_to_conversation
from bot.core.delivery.models import OutboxItem
from bot.core.storage.db import SessionFactory, transaction


async def make_chats(factory: SessionFactory, org_id: int, channel: str, externals: Iterable[str]) -> dict[str, int]:
    """One customer, identity and open conversation per external id; returns conversation id by external id."""
    made: dict[str, int] = {}
    async with transaction(factory) as session:
        for external in externals:
            customer = Customer(org_id=org_id, name=f"customer {external}")
            session.add(customer)
            await session.flush()
            identity = ChannelIdentity(org_id=org_id, customer_id=customer.id, channel=channel, external_id=external)
            session.add(identity)
            await session.flush()
            conversation = Conversation(org_id=org_id, customer_id=customer.id, identity_id=identity.id, channel=channel)
            session.add(conversation)
            await session.flush()
            made[external] = conversation.id
    return made


async def broadcast(factory: SessionFactory, conversations: dict[str, int], text: str) -> None:
    """One bot message to each conversation, queued in one transaction (a policy notice to everyone)."""
    await broadcasts(factory, conversations, [text])


async def broadcasts(factory: SessionFactory, conversations: dict[str, int], texts: Sequence[str]) -> None:
    """Several broadcasts queued together in one transaction: a backlog that appears at once."""
    async with transaction(factory) as session:
        for text in texts:
            for external, conversation_id in conversations.items():
                conversation = await session.get(Conversation, conversation_id)
                identity = await session.get(ChannelIdentity, conversation.identity_id) if conversation else None
                assert conversation is not None and identity is not None
                await send_to_conversation(
                    session=session, conversation=conversation, identity=identity, reply=Reply(text=f"{text} {external}"),
                    author_type="bot",
                )


async def outbox_states(factory: SessionFactory, channel: str) -> dict[str, int]:
    async with factory() as session:
        rows = await session.execute(
            select(OutboxItem.state, func.count()).where(OutboxItem.channel == channel).group_by(OutboxItem.state)
        )
        return {str(state): int(n) for state, n in rows}


async def wait_states(factory: SessionFactory, channel: str, done: dict[str, int], timeout: float) -> dict[str, int]:  # noqa: ASYNC109 - a polling helper's deadline
    """Polls until the channel's outbox states are exactly `done` (or the deadline passes); returns the last seen."""
    deadline = time.monotonic() + timeout
    while True:
        states = await outbox_states(factory, channel)
        if states == done or time.monotonic() > deadline:
            return states
        await asyncio.sleep(0.1)
