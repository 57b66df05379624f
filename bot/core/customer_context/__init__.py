"""What agents see and correct about a customer beside a conversation: contact details (name, email, phone)
and the customer's other conversations on every channel. Callers audit each view and each change."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.errors import InvalidInput, NotFound
from bot.core.conversations.customers import get_customer
from bot.core.conversations.models import ChannelIdentity, Conversation, Customer
from bot.core.identity.codes import parse_destination

MAX_NAME = 200


async def update_contact(
    *, session: AsyncSession, org_id: int, customer_id: int, name: str, email: str, phone: str
) -> tuple[Customer, list[str]]:
    """Validates and saves; returns the customer and the names of the fields that changed (for the audit)."""
    customer = await get_customer(session=session, org_id=org_id, customer_id=customer_id)
    name = " ".join(name.split())
    if len(name) > MAX_NAME:
        raise InvalidInput("name: at most %(limit)s characters", limit=MAX_NAME)
    new_email = _checked(email, "email") if email.strip() else None
    new_phone = _checked(phone, "sms") if phone.strip() else None
    changed = [field for field, old, new in (("name", customer.name, name), ("email", customer.email, new_email),
                                             ("phone", customer.phone, new_phone)) if old != new]
    customer.name, customer.email, customer.phone = name, new_email, new_phone
    await session.flush()
    return customer, changed


def _checked(value: str, kind: str) -> str:
    destination = parse_destination(value)
    if destination.kind != kind and kind == "email":
        raise InvalidInput("email: that is not a valid email address")
    if destination.kind != kind:
        raise InvalidInput("phone: that is not a valid phone number")
    return destination.address


async def past_conversations(
    *, session: AsyncSession, org_id: int, customer_id: int, exclude_id: int | None = None, limit: int = 20
) -> list[Conversation]:
    """The customer's conversations on all channels, newest activity first (the open one excluded)."""
    query = select(Conversation).where(Conversation.org_id == org_id, Conversation.customer_id == customer_id)
    if exclude_id is not None:
        query = query.where(Conversation.id != exclude_id)
    rows = await session.scalars(query.order_by(Conversation.last_activity_at.desc()).limit(limit))
    return list(rows)


async def conversation_identity(*, session: AsyncSession, conversation: Conversation) -> ChannelIdentity:
    """The channel identity a conversation talks through (tenant-checked)."""
    identity = await session.get(ChannelIdentity, conversation.identity_id)
    if identity is None or identity.org_id != conversation.org_id:
        raise NotFound("the conversation has no channel")
    return identity
