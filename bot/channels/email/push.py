"""Admin pushes by email: the SMTP sender under its own outbox channel (see PUSH_CHANNELS)."""

from __future__ import annotations

from bot.channels.email.sender import EmailSender
from bot.core.notifications.fanout import PUSH_CHANNELS


class EmailPushSender:
    """Admin pushes by email: the SMTP sender under its own outbox channel (see PUSH_CHANNELS)."""

    channel = PUSH_CHANNELS["email"]

    def __init__(self, inner: EmailSender) -> None:
        self.inner = inner

    async def send(self, target: str, payload: dict[str, object]) -> str | None:
        return await self.inner.send(target, payload)
