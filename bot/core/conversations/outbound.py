"""What the bot and agents say in a conversation: a stored outbound message, queued in the outbox for the customer's channel."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.conversations.events import Reply
from bot.core.conversations.models import ChannelIdentity, Conversation, Message
from bot.core.conversations.threads import preview
from bot.core.delivery.outbox import enqueue


def reply_payload(reply: Reply) -> dict[str, Any]:
    return {
        "text": reply.text,
        "kind": reply.kind,
        "buttons": [[b.label, b.payload] for b in reply.buttons],
        "attachment_id": reply.attachment_id,
        "data": reply.data,
    }


async def send_to_conversation(
    *,
    session: AsyncSession,
    conversation: Conversation,
    identity: ChannelIdentity,
    reply: Reply,
    author_type: str,
    agent_id: int | None = None,
) -> Message:
    """Store an outbound message in the thread and queue it for the customer's channel."""
    message = Message(
        org_id=conversation.org_id,
        conversation_id=conversation.id,
        identity_id=identity.id,
        direction="out",
        author_type=author_type,
        author_agent_id=agent_id,
        kind="file" if reply.attachment_id else "text",
        text=reply.text,
        attachment_id=reply.attachment_id,
        delivery_state="pending",
    )
    session.add(message)
    await session.flush()
    payload = reply_payload(reply)
    payload.update(
        message_id=message.id, conversation_id=conversation.id, customer_id=conversation.customer_id, author=author_type
    )
    await enqueue(
        session=session,
        channel=identity.channel,
        target=identity.external_id,
        payload=payload,
        idempotency_key=f"msg:{message.id}",
        org_id=conversation.org_id,
        message_id=message.id,
        new_key=True,
    )
    conversation.last_activity_at = message.created_at
    if author_type == "agent":
        conversation.waiting_since = None
        conversation.last_message_preview = preview(reply.text)
    return message
