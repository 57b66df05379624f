"""Bot notices outside the conversation thread (slow down, file too large, linked...), sent through the outbox."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.channels.telegram.store import CHANNEL
from bot.core.delivery.outbox import enqueue
from bot.core.storage.db import transaction
from bot.flows.texts import render_text

if TYPE_CHECKING:
    from bot.channels.telegram.runtime import TelegramChannel


async def notify(
    channel: TelegramChannel,
    *,
    chat_id: int,
    key: str,
    template: str,
    locale: str | None = None,
    org_id: int | None = None,
    thread_id: int | None = None,
    **context: Any,
) -> None:
    """Queue a notice once per `key` (an update id makes a redelivered update not notify twice)."""
    text = render_text(template, locale or "en", **context)
    payload: dict[str, Any] = {"text": text, "kind": "notice", "dedup_key": f"tgnote:{key}"}
    if thread_id:
        payload["thread_id"] = thread_id
    async with transaction(channel.ctx.factory) as session:
        await enqueue(
            session=session, channel=CHANNEL, target=str(chat_id), payload=payload, idempotency_key=f"tgnote:{key}", org_id=org_id
        )
    channel.ctx.dispatcher.wake()
