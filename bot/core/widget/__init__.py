"""The embeddable chat widget of an organization: brand colour and the optional pre-chat fields.

A pre-chat email is what the visitor typed, unverified: it is kept as an internal note for the agent, never as
the customer's address (a verified address links identities, so a typed one must not).
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.errors import InvalidInput
from bot.core.conversations.customers import get_customer
from bot.core.conversations.models import Conversation, Message
from bot.core.widget.models import ChatWidget

COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
DEFAULT_COLOR = "#2457c5"


async def get_widget(*, session: AsyncSession, org_id: int) -> ChatWidget:
    widget = await session.get(ChatWidget, org_id)
    return widget or ChatWidget(org_id=org_id, brand_color=DEFAULT_COLOR, ask_name=False, ask_email=False)


async def save_widget(*, session: AsyncSession, org_id: int, brand_color: str, ask_name: bool, ask_email: bool) -> ChatWidget:
    if not COLOR.match(brand_color):
        raise InvalidInput("brand colour: a colour like #2457c5")
    widget = await session.get(ChatWidget, org_id)
    if widget is None:
        widget = ChatWidget(org_id=org_id)
        session.add(widget)
    widget.brand_color, widget.ask_name, widget.ask_email = brand_color.lower(), ask_name, ask_email
    await session.flush()
    return widget


def text_color(background: str) -> str:
    """Black or white, whichever reads better on the brand colour (WCAG relative luminance)."""
    channels = [int(background[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#000000" if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else "#ffffff"


async def record_prechat(*, session: AsyncSession, org_id: int, customer_id: int, name: str, email: str) -> Message | None:
    """The pre-chat form's answers: a name the customer has none yet; both as an internal note for the agent."""
    name = " ".join(name.split())[:200]
    email = email.strip()[:254]
    if email and not _EMAIL.match(email):
        raise InvalidInput("that is not a valid email address")
    if not name and not email:
        return None
    customer = await get_customer(session=session, org_id=org_id, customer_id=customer_id)
    if name and not customer.name:
        customer.name = name
    conversation = await session.scalar(
        select(Conversation).where(Conversation.org_id == org_id, Conversation.customer_id == customer_id)
        .order_by(Conversation.id.desc()).limit(1)
    )
    if conversation is None:
        return None
    parts = [f"name: {name}"] if name else []
    if email:
        parts.append(f"email: {email} (typed by the visitor, not verified)")
    note = Message(org_id=org_id, conversation_id=conversation.id, direction="note", author_type="bot",
                   text="Pre-chat form — " + "; ".join(parts), delivery_state="internal")
    session.add(note)
    await session.flush()
    return note
