"""Web chat delivery: push to every open tab of the customer through the live hub."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.core.conversations.live import Hub
from bot.core.delivery.senders import PermanentFailure


class WebchatSender:
    channel = "webchat"

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def send(self, target: str, payload: dict[str, Any]) -> str | None:
        customer_id = payload.get("customer_id")
        if customer_id is None:
            raise PermanentFailure("web chat payload without customer")
        message = {
            "id": payload.get("message_id"),
            "conversation_id": payload.get("conversation_id"),
            "direction": "out",
            "author": payload.get("author", "bot"),
            "kind": "file" if payload.get("attachment_id") else "text",
            "reply_kind": payload.get("kind", "text"),
            "text": payload.get("text", ""),
            "buttons": payload.get("buttons", []),
            "data": payload.get("data", {}),
            "attachment_id": payload.get("attachment_id"),
            "delivery_state": "sent",
            "created_at": datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z",
        }
        await self.hub.publish(f"customer:{customer_id}", {"type": "message", "message": message})
        return None
