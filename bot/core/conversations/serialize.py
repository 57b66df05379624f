"""JSON shapes of domain rows for sockets and APIs."""

from __future__ import annotations

from typing import Any

from bot.core.models import Message


def message_json(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "direction": message.direction,
        "author": message.author_type,
        "kind": message.kind,
        "text": message.text,
        "attachment_id": message.attachment_id,
        "latitude": message.latitude,
        "longitude": message.longitude,
        "delivery_state": message.delivery_state,
        "edited": message.edited,
        "created_at": message.created_at.isoformat(timespec="seconds") + "Z",
    }
