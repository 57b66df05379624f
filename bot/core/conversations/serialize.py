"""JSON shapes of domain rows for sockets and APIs."""

from __future__ import annotations

from typing import Any

from bot.core.conversations.models import Message


def message_json(message: Message) -> dict[str, Any]:
    """A message deleted by its author on the platform keeps its row but shows neither text nor file."""
    deleted = message.deleted_at is not None
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "direction": message.direction,
        "author": message.author_type,
        "kind": message.kind,
        "text": "" if deleted else message.text,
        "attachment_id": None if deleted else message.attachment_id,
        "latitude": message.latitude,
        "longitude": message.longitude,
        "delivery_state": message.delivery_state,
        "edited": message.edited,
        "deleted": deleted,
        "created_at": message.created_at.isoformat(timespec="seconds") + "Z",
    }
