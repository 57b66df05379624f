"""Outbox -> Telegram: rate-limited sends, Telegram's errors mapped to the outbox's outcomes.

Waiting for our own limiter beyond max_wait_seconds, and Telegram's 429 with retry_after, are `Paced`: the
outbox reschedules the item to when a slot is free, without counting an attempt. `claim_limit` tells the
outbox how much to hand over at once.

The API calls run in a shielded task: a stop in the middle of a send lets the call finish. When the
outbox can no longer record the outcome (its round was cancelled) or a later part of a split
message failed, the parts that arrived are journaled (telegram_sent), and the outbox's retry, after
a restart too, skips them instead of sending them twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import FSInputFile, Message

from bot.channels.telegram.edits import edit_customer_copy
from bot.channels.telegram.render import MAX_CAPTION, keyboard, plain, split_text, to_html
from bot.channels.telegram.store import CHANNEL, journal_many, journal_put
from bot.core.delivery.senders import FIRST_TRY, Paced, PermanentFailure, RetryLater, TargetUnreachable
from bot.core.files.attachments import attachment_path
from bot.core.files.models import Attachment
from bot.core.storage.db import transaction

if TYPE_CHECKING:
    from bot.channels.telegram.runtime import TelegramChannel

log = logging.getLogger(__name__)
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")
PHOTO_MAX = 10 * 1024 * 1024


class TopicGone(Exception):
    """The forum topic was deleted or closed; the topic sender recreates it."""


def journal_key(payload: dict[str, Any]) -> str | None:
    if payload.get("dedup_key"):
        return str(payload["dedup_key"])
    if payload.get("message_id") is not None:
        return f"msg:{payload['message_id']}"
    return None


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("telegram send finished after its caller left: %s", task.exception())


@dataclass
class Job:
    key: str | None
    sent: dict[int, str] = field(default_factory=dict)
    orphaned: bool = False

    def part_key(self, index: int) -> str:
        return f"{self.key}#{index}"


class Delivery:
    """Sends one payload to one chat (optionally into a forum topic), part by part."""

    def __init__(self, channel: TelegramChannel) -> None:
        self.channel = channel

    async def deliver(self, chat: str, payload: dict[str, Any], key: str | None, thread_id: int | None = None) -> str | None:
        if self.channel.draining:
            raise Paced("telegram channel is stopping", 1.0)
        job = Job(key)
        task = asyncio.ensure_future(self._deliver(chat, payload, job, thread_id))
        self._track(task)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            # Our caller (the outbox round) is gone and will not record the outcome: journal it instead.
            job.orphaned = True
            if task.done() and not task.cancelled() and task.exception() is None:
                self._track(asyncio.ensure_future(self._journal(job)))
            raise

    def _track(self, task: asyncio.Future[Any]) -> None:
        self.channel.inflight.add(task)
        task.add_done_callback(self.channel.inflight.discard)
        task.add_done_callback(_retrieve)

    async def _deliver(self, chat: str, payload: dict[str, Any], job: Job, thread_id: int | None) -> str | None:
        # The first part's slot is reserved before anything here awaits, so items claimed together take slots in
        # their claim order (a retry, claimed first, comes first). Reserved after an await, an item that first reads
        # the send journal (a retry) was overtaken by every fresh item of its claim and could find no slot within
        # max_wait.
        slot: float | None = self._reserve(chat)
        text = to_html(payload)
        attachment = await self._attachment(payload)
        parts = split_text(text) if text else []
        caption = None
        if attachment is not None and len(parts) == 1 and len(parts[0]) <= MAX_CAPTION:
            caption, parts = parts[0], []
        markup = keyboard(payload)
        steps: list[Callable[[Any], Awaitable[Message]]] = []
        for index, part in enumerate(parts):
            final = index == len(parts) - 1 and attachment is None
            steps.append(self._text_step(chat, part, markup if final else None, thread_id))
        if attachment is not None:
            steps.append(self._file_step(chat, attachment, caption, markup, thread_id))
        done = await self._journaled(job, len(steps))
        last: str | None = None
        try:
            for index, step in enumerate(steps):
                if index in done:
                    last = done[index] or last
                    continue
                await self._slot(chat, slot)
                slot = None
                message = await self.call(chat, step)
                last = str(message.message_id)
                job.sent[index] = last
                self.channel.state.sent(chat)
        except BaseException:
            if job.sent:  # a later part failed: the retry must not repeat the parts that arrived
                await asyncio.shield(self._journal(job))
            raise
        if job.orphaned:
            await self._journal(job)
        return last

    async def _journaled(self, job: Job, count: int) -> dict[int, str]:
        """Parts an earlier attempt delivered (read in one query; written only when that attempt could not report)."""
        if job.key is None or FIRST_TRY.get():  # a first try has nothing journaled: skip the query
            return {}
        async with self.channel.ctx.factory() as session:
            rows = await journal_many(session=session, keys=[job.part_key(i) for i in range(count)])
        return {i: rows[job.part_key(i)] for i in range(count) if job.part_key(i) in rows}

    async def _journal(self, job: Job) -> None:
        if job.key is None or not job.sent:
            return
        async with transaction(self.channel.ctx.factory) as session:
            for index, platform_id in job.sent.items():
                await journal_put(session=session, key=job.part_key(index), platform_message_id=platform_id)

    def _reserve(self, chat: str) -> float:
        """A send slot for `chat`: the limiter's clock time it starts; Paced (back to the outbox) if that is beyond
        max_wait."""
        limiter = self.channel.limiter
        wait = limiter.reserve(chat, self.channel.config.max_wait_seconds)
        if wait is None:
            raise Paced("telegram rate limit", limiter.wait_hint(chat))
        return limiter.clock() + wait

    async def _slot(self, chat: str, slot: float | None = None) -> None:
        """Wait for a send slot (`slot`: one reserved already, else one is reserved now) and mark the send as leaving."""
        wait = (self._reserve(chat) if slot is None else slot) - self.channel.limiter.clock()
        if wait > 0:
            await asyncio.sleep(wait)
        # woken late, the previous send may have left late too: keep the actual spacing
        while (late := self.channel.limiter.settle(chat)) > 0:  # noqa: ASYNC110 - a computed wait, no event to await
            await asyncio.sleep(late)
        self.channel.limiter.mark(chat)

    def _text_step(self, chat: str, text: str, markup: Any, thread_id: int | None) -> Callable[[Any], Awaitable[Message]]:
        bot = self.channel.bot

        async def step(parse_mode: Any) -> Message:
            body = text if parse_mode else plain(text)
            return await bot.send_message(
                chat_id=chat, text=body, parse_mode=parse_mode, reply_markup=markup, message_thread_id=thread_id
            )

        return step

    def _file_step(
        self, chat: str, attachment: Attachment, caption: str | None, markup: Any, thread_id: int | None
    ) -> Callable[[Any], Awaitable[Message]]:
        bot = self.channel.bot
        path = attachment_path(self.channel.ctx.settings.data_dir, attachment)
        as_photo = attachment.mime_type in PHOTO_TYPES and attachment.size <= PHOTO_MAX

        async def step(parse_mode: Any) -> Message:
            body = caption if (caption is None or parse_mode) else plain(caption)
            media = FSInputFile(path, filename=attachment.filename)
            if as_photo:
                return await bot.send_photo(
                    chat_id=chat,
                    photo=media,
                    caption=body,
                    parse_mode=parse_mode,
                    reply_markup=markup,
                    message_thread_id=thread_id,
                )
            return await bot.send_document(
                chat_id=chat,
                document=media,
                caption=body,
                parse_mode=parse_mode,
                reply_markup=markup,
                message_thread_id=thread_id,
            )

        return step

    async def _attachment(self, payload: dict[str, Any]) -> Attachment | None:
        attachment_id = payload.get("attachment_id")
        if not attachment_id:
            return None
        async with self.channel.ctx.factory() as session:
            attachment = await session.get(Attachment, int(attachment_id))
        if attachment is None:
            raise PermanentFailure("the attachment no longer exists")
        return attachment

    async def call(self, chat: str, step: Callable[[Any], Awaitable[Any]]) -> Any:
        """One API call with Telegram's refusals translated; HTML that Telegram cannot parse goes again as plain text."""
        try:
            try:
                return await step("HTML")
            except TelegramBadRequest as exc:
                if "can't parse entities" not in exc.message.lower():
                    raise
                log.warning("telegram refused HTML for chat %s (%s); resending as plain text", chat, exc.message)
                return await step(None)
        except TelegramRetryAfter as exc:
            self.channel.limiter.block(chat, exc.retry_after)
            raise self._note(Paced(f"telegram 429, retry after {exc.retry_after}s", float(exc.retry_after))) from None
        except TelegramForbiddenError as exc:
            raise self._note(TargetUnreachable(f"telegram 403: {exc.message}")) from None
        except TelegramMigrateToChat as exc:
            raise self._note(PermanentFailure(f"chat moved to {exc.migrate_to_chat_id}")) from None
        except TelegramBadRequest as exc:
            lowered = exc.message.lower()
            if "thread not found" in lowered or "topic_deleted" in lowered or "topic_closed" in lowered:
                raise TopicGone(exc.message) from None
            if "chat not found" in lowered or "user is deactivated" in lowered:
                raise self._note(TargetUnreachable(f"telegram 400: {exc.message}")) from None
            raise self._note(PermanentFailure(f"telegram 400: {exc.message}")) from None
        except (TelegramServerError, TelegramNetworkError) as exc:
            raise self._note(RetryLater(f"telegram unavailable: {exc.message}")) from None
        except TelegramAPIError as exc:  # 429 without retry_after, unexpected statuses: transient
            raise self._note(RetryLater(f"telegram error: {exc.message}")) from None

    def _note(self, exc: Exception) -> Exception:
        self.channel.state.send_error(str(exc))
        return exc


class TelegramSender:
    """Outbox channel `telegram`: target is the chat id (customers, linked admin chats)."""

    channel = CHANNEL

    def __init__(self, delivery: Delivery) -> None:
        self.delivery = delivery

    def claim_limit(self, lease_seconds: float) -> int:
        """Items the outbox may hand over at once: what the overall rate sends within the wait a send accepts
        (telegram.max_wait_seconds, at most half a lease), so that claimed items are sent, not paced back."""
        config = self.delivery.channel.config
        horizon = min(lease_seconds / 2, max(config.max_wait_seconds, 1 / config.rate_global))
        return max(1, int(config.rate_global * horizon))

    async def send(self, target: str, payload: dict[str, Any]) -> str | None:
        if payload.get("edit_of") is not None:  # an agent's edit of a reply already sent to this chat
            return await edit_customer_copy(self.delivery.channel, target, payload)
        try:
            thread = payload.get("thread_id")
            return await self.delivery.deliver(target, payload, journal_key(payload), int(thread) if thread else None)
        except TopicGone as exc:
            raise PermanentFailure(str(exc)) from None
