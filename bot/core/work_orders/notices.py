"""What the customer is told about their work order, on the channel they used (through the outbox).

Texts come from templates/bot/<locale>/ like every bot text; rendered here because the core may not
import bot.flows. Nothing is sent when the work order has no conversation (opened without a chat).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.conversations.events import Button, Reply
from bot.core.conversations.models import ChannelIdentity, Conversation, Customer
from bot.core.conversations.outbound import send_to_conversation
from bot.core.work_orders.models import WorkOrder
from bot.paths import TEMPLATES


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES / "bot"), autoescape=False, undefined=StrictUndefined)  # noqa: S701


def bot_text(name: str, locale: str, **context: Any) -> str:
    locale = locale if locale in ("en", "zh") else "en"
    return _env().get_template(f"{locale}/{name}.txt").render(**context).strip()


def csat_buttons(subject_type: str, subject_id: int) -> tuple[Button, ...]:
    return tuple(Button("★" * n, f"csat:{subject_type}:{subject_id}:{n}") for n in range(1, 6))


async def tell_customer(
    *, session: AsyncSession, conversation_id: int | None, text_name: str, buttons: tuple[Button, ...] = (),
    agent_id: int | None = None, **context: Any,
) -> bool:
    """Send a bot text (or an agent's words, when agent_id is given) into the customer's conversation."""
    if conversation_id is None:
        return False
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        return False
    identity = await session.get(ChannelIdentity, conversation.identity_id)
    customer = await session.get(Customer, conversation.customer_id)
    if identity is None or customer is None:
        return False
    text = bot_text(text_name, customer.locale, **context)
    await send_to_conversation(
        session=session, conversation=conversation, identity=identity, reply=Reply(text=text, buttons=buttons),
        author_type="agent" if agent_id else "bot", agent_id=agent_id,
    )
    return True


async def tell_status(*, session: AsyncSession, order: WorkOrder) -> None:
    buttons = csat_buttons("work_order", order.id) if order.status == "resolved" else ()
    name = "ticket_status_resolved" if order.status == "resolved" else "ticket_status_changed"
    await tell_customer(session=session, conversation_id=order.conversation_id, text_name=name, buttons=buttons,
                        label=order.label, status=order.status)
