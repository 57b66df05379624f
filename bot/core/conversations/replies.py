"""What agents send: replies through the customer's channel, via the outbox."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.errors import InvalidInput, NotFound
from bot.core.conversations.events import Reply
from bot.core.conversations.models import ChannelIdentity, Conversation, Message
from bot.core.conversations.outbound import send_to_conversation
from bot.core.orgs.models import Agent

MAX_REPLY = 4000


async def reply_as_agent(
    *, session: AsyncSession, conversation: Conversation, agent: Agent, text: str, attachment_id: int | None = None
) -> Message:
    text = text.strip()
    if not text and attachment_id is None:
        raise InvalidInput("the reply is empty")
    if len(text) > MAX_REPLY:
        raise InvalidInput("the reply is longer than %(limit)s characters", limit=MAX_REPLY)
    identity = await session.get(ChannelIdentity, conversation.identity_id)
    if identity is None or identity.org_id != conversation.org_id:
        raise NotFound("the conversation has no channel")
    if conversation.status == "resolved":
        conversation.status = "open"
        conversation.resolved_at = None
    reply = Reply(text=text, attachment_id=attachment_id, data={"agent_name": agent.name})  # shown to the customer
    return await send_to_conversation(
        session=session, conversation=conversation, identity=identity, reply=reply, author_type="agent", agent_id=agent.id
    )
