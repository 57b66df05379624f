"""Labels, priority and snooze of conversations.

Snoozing sets the conversation to `pending` until a time; the sweep `wake_snoozed` (run by the scheduler, and
idempotent) opens it again when that time has come. A customer writing earlier reopens it as usual.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import PRIORITIES
from bot.core.common.clock import now
from bot.core.common.errors import InvalidInput
from bot.core.conversations.models import Conversation
from bot.core.triage.models import ConversationLabel, ConversationTriage

LABEL = re.compile(r"^[\w\- ]{1,40}$", re.UNICODE)
MAX_LABELS = 20


@dataclass
class Triage:
    priority: str = "normal"
    snoozed_until: datetime | None = None
    labels: list[str] = field(default_factory=list)


async def get_triage(*, session: AsyncSession, conversation: Conversation) -> Triage:
    row = await session.get(ConversationTriage, conversation.id)
    labels = await session.scalars(
        select(ConversationLabel.label).where(ConversationLabel.org_id == conversation.org_id,
                                              ConversationLabel.conversation_id == conversation.id).order_by(ConversationLabel.label)
    )
    return Triage(priority=row.priority if row else "normal", snoozed_until=row.snoozed_until if row else None, labels=list(labels))


async def _row(session: AsyncSession, conversation: Conversation) -> ConversationTriage:
    row = await session.get(ConversationTriage, conversation.id)
    if row is None:
        row = ConversationTriage(conversation_id=conversation.id, org_id=conversation.org_id, priority="normal")
        session.add(row)
    return row


async def set_priority(*, session: AsyncSession, conversation: Conversation, priority: str) -> None:
    if priority not in PRIORITIES:
        raise InvalidInput("priority: one of %(choices)s", choices=", ".join(PRIORITIES))
    (await _row(session, conversation)).priority = priority
    await session.flush()


async def snooze(*, session: AsyncSession, conversation: Conversation, until: datetime) -> None:
    if until <= now():
        raise InvalidInput("snooze: pick a time in the future")
    (await _row(session, conversation)).snoozed_until = until
    conversation.status = "pending"
    await session.flush()


async def wake_snoozed(*, session: AsyncSession) -> list[Conversation]:
    """Every organization (a sweep): snoozes whose time has come end, and their conversations open again."""
    rows = list(await session.scalars(select(ConversationTriage).where(ConversationTriage.snoozed_until <= now())))
    woken = []
    for row in rows:
        row.snoozed_until = None
        conversation = await session.get(Conversation, row.conversation_id)
        if conversation is not None and conversation.status == "pending":
            conversation.status = "open"
            woken.append(conversation)
    await session.flush()
    return woken


def clean_label(label: str) -> str:
    label = " ".join(label.split()).lower()
    if not LABEL.match(label):
        raise InvalidInput("label: up to 40 letters, digits, spaces, - or _")
    return label


async def add_label(*, session: AsyncSession, conversation: Conversation, label: str) -> str:
    label = clean_label(label)
    current = (await get_triage(session=session, conversation=conversation)).labels
    if label in current:
        return label
    if len(current) >= MAX_LABELS:
        raise InvalidInput("at most %(limit)s labels on a conversation", limit=MAX_LABELS)
    session.add(ConversationLabel(org_id=conversation.org_id, conversation_id=conversation.id, label=label))
    await session.flush()
    return label


async def remove_label(*, session: AsyncSession, conversation: Conversation, label: str) -> None:
    await session.execute(delete(ConversationLabel).where(
        ConversationLabel.org_id == conversation.org_id, ConversationLabel.conversation_id == conversation.id,
        ConversationLabel.label == label))
