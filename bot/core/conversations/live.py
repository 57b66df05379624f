"""What a conversation publishes live: new messages and edits, to agents, inboxes, mirrors and the customer's tabs.

The hub itself (in-process or Redis) is bot/core/common/live.py; it is re-exported here for the conversation code.
"""

from __future__ import annotations

from typing import Any

from bot.core.common.live import Hub, RedisHub, Subscription, make_hub

__all__ = [
    "CHATS", "Hub", "RedisHub", "Subscription", "chat_chose", "chats_forgotten", "inbox_event", "make_hub", "publish_edit",
    "publish_message",
]

# Which organization a chat talks to changed: it chose one (Telegram's `/start org_<slug>`), or its identities were
# erased. Every process that keeps chats' organizations in memory hears it (through Redis when there are several).
CHATS = "chats"


async def publish_message(
    hub: Hub,
    *,
    org_id: int,
    conversation_id: int,
    customer_id: int | None,
    message: dict[str, Any],
    origin: str | None = None,
) -> None:
    """One new message in a thread: to agents on it, to the org's inbox, to mirrors (topic `messages`),
    and, for a customer's message, to their other open web chat tabs (`origin` names the tab that sent it
    and already has it from its ack). Nothing here waits on a query or a timer: the event carries what an
    open inbox needs to move and update the row in place."""
    event = {"type": "message", "org_id": org_id, "conversation_id": conversation_id, "message": message}
    await hub.publish(f"conv:{conversation_id}", event)
    if message.get("direction") in ("in", "out"):  # the live inbox moves the row (notes do not change it)
        await hub.publish(f"org:{org_id}", inbox_event(conversation_id, message))
    await hub.publish("messages", event)
    if customer_id is not None and message.get("direction") == "in":
        await hub.publish(f"customer:{customer_id}", {"type": "message", "message": message, "origin": origin})


def inbox_event(conversation_id: int, message: dict[str, Any]) -> dict[str, Any]:
    """What an open inbox needs to move and update one row in place (no personal data beyond the preview)."""
    return {
        "type": "inbox",
        "conversation_id": conversation_id,
        "direction": message.get("direction"),
        "text": str(message.get("text") or "")[:200],
        "created_at": message.get("created_at"),
    }


async def publish_edit(hub: Hub, *, conversation_id: int, customer_id: int | None, message: dict[str, Any]) -> None:
    """A message's text changed: agents on the thread and (unless it is an internal note) the customer's tabs see it."""
    event = {"type": "message_edited", "conversation_id": conversation_id, "message": message}
    await hub.publish(f"conv:{conversation_id}", event)
    if customer_id is not None and message.get("direction") != "note":
        await hub.publish(f"customer:{customer_id}", event)


async def chat_chose(hub: Hub, *, channel: str, external_id: str, org_id: int) -> None:
    """After the commit that stored a chat's choice of organization."""
    await hub.publish(CHATS, {"type": "chose", "channel": channel, "external_id": external_id, "org_id": org_id})


async def chats_forgotten(hub: Hub, chats: list[tuple[str, str]]) -> None:
    """After the commit of an erasure: the (channel, external id) of the identities it deleted."""
    if chats:
        await hub.publish(CHATS, {"type": "forgotten", "chats": [list(chat) for chat in chats]})
