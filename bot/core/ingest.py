"""The ingest path: store, attach to a conversation, run the flows, queue replies — then acknowledge.

Many events share one commit ("group commit"): a writer task takes whatever has queued up,
handles it all in one transaction, commits once and only then resolves each caller's future.
A batch that fails is retried one event at a time, so one bad event fails alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.core import metrics
from bot.core.conversations import open_conversation_for, touch_inbound
from bot.core.customers import resolve_identity
from bot.core.db import SessionFactory
from bot.core.errors import DomainError, InvalidInput, ServiceUnavailable
from bot.core.events import InboundEvent
from bot.core.live import Hub, publish_message
from bot.core.models import Message, Organization
from bot.core.outbox import send_to_conversation
from bot.core.serialize import message_json
from bot.flows.engine import FlowCall, run_flows, stored_text

log = logging.getLogger(__name__)
MAX_BATCH = 256
_STOP: Any = object()  # queue sentinel: drain, then stop


@dataclass
class IngestResult:
    message: dict[str, Any]
    conversation_id: int
    customer_id: int
    identity_id: int
    replies: list[dict[str, Any]] = field(default_factory=list)
    duplicate: bool = False
    new_conversation: bool = False


def _describe(event: InboundEvent) -> str:
    if event.kind == "location":
        return f"📍 {event.latitude:.5f}, {event.longitude:.5f}"
    if event.file is not None:
        return f"📎 {event.file.filename}"
    if event.kind == "button":
        return event.text or event.payload
    return event.text


def validate(event: InboundEvent, settings: Settings) -> None:
    if event.kind in ("text", "command") and not event.text.strip():
        raise InvalidInput("the message is empty")
    if len(event.text) > settings.webchat.max_text_length:
        raise InvalidInput(f"the message is longer than {settings.webchat.max_text_length} characters")
    if event.kind == "location":
        if event.latitude is None or event.longitude is None:
            raise InvalidInput("a location needs latitude and longitude")
        if not (-90 <= event.latitude <= 90 and -180 <= event.longitude <= 180):
            raise InvalidInput("latitude or longitude out of range")
    if event.kind in ("file", "photo") and event.file is None:
        raise InvalidInput("a file message needs a file")


class Ingestor:
    def __init__(self, *, factory: SessionFactory, settings: Settings, hub: Hub, services: dict[str, Any] | None = None) -> None:
        self.factory = factory
        self.settings = settings
        self.hub = hub
        self.services = services if services is not None else {}
        self.on_committed: list[Any] = []  # callbacks after each commit (the outbox dispatcher's wake-up)
        self._queue: asyncio.Queue[tuple[InboundEvent, asyncio.Future[IngestResult]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._writer(), name="ingest-writer")

    async def stop(self) -> None:
        """Finish what is queued (callers are waiting for their acks), then stop."""
        if self._task is None:
            return
        self._stopping = True
        await self._queue.put(_STOP)
        try:
            await asyncio.wait_for(asyncio.shield(self._task), 10)
        except TimeoutError:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._task = None

    async def submit(self, event: InboundEvent) -> IngestResult:
        """Returns once the event and its replies are committed. Raises DomainError on bad input."""
        if self._stopping:
            raise ServiceUnavailable("the server is restarting; please send again in a moment")
        validate(event, self.settings)
        future: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        await self._queue.put((event, future))
        return await future

    async def _writer(self) -> None:
        stop = False
        while not stop:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            if _STOP in batch:
                batch = [item for item in batch if item is not _STOP]
                stop = True
            if not batch:
                continue
            try:
                await self._write(batch)
            except Exception:  # noqa: BLE001 - the writer must outlive any one batch
                log.exception("ingest batch failed")

    async def _write(self, batch: list[tuple[InboundEvent, asyncio.Future[IngestResult]]]) -> None:
        started = time.perf_counter()
        try:
            async with self.factory() as session, session.begin():
                results = [await self._handle(session, event) for event, _ in batch]
        except Exception as exc:  # noqa: BLE001
            if len(batch) == 1:
                event, future = batch[0]
                if not future.done():
                    future.set_exception(exc if isinstance(exc, DomainError) else InvalidInput("the message could not be stored"))
                if not isinstance(exc, DomainError):
                    log.warning("ingest failed for a %s event on %s", event.kind, event.channel, exc_info=True)
                return
            for item in batch:  # isolate the bad event
                await self._write([item])
            return
        metrics.INGEST_BATCH.observe(len(batch))
        for (event, future), result in zip(batch, results, strict=True):
            metrics.INBOUND.labels(event.channel).inc()
            if not future.done():
                future.set_result(result)
        await self._after_commit(results)
        log.debug("ingested %d events in %.1f ms", len(batch), (time.perf_counter() - started) * 1000)

    async def _after_commit(self, results: list[IngestResult]) -> None:
        for result in results:
            if result.duplicate:
                continue
            org_id = int(result.message["org_id"])
            await publish_message(
                self.hub, org_id=org_id, conversation_id=result.conversation_id, customer_id=result.customer_id, message=result.message
            )
            for reply in result.replies:
                await publish_message(self.hub, org_id=org_id, conversation_id=result.conversation_id, customer_id=None, message=reply)
        for callback in self.on_committed:
            callback()

    async def _handle(self, session: AsyncSession, event: InboundEvent) -> IngestResult:
        resolved = await resolve_identity(
            session=session,
            org_id=event.org_id,
            channel=event.channel,
            external_id=event.external_id,
            display_name=event.display_name,
            locale=event.locale,
        )
        identity, customer = resolved.identity, resolved.customer
        if event.platform_message_id and not resolved.created:
            existing = await session.scalar(
                select(Message).where(Message.identity_id == identity.id, Message.platform_message_id == event.platform_message_id)
            )
            if existing is not None:
                return IngestResult(
                    message=message_json(existing),
                    conversation_id=existing.conversation_id,
                    customer_id=customer.id,
                    identity_id=identity.id,
                    duplicate=True,
                )
        conversation, new_conversation = await open_conversation_for(session=session, identity=identity)
        message = Message(
            org_id=event.org_id,
            conversation_id=conversation.id,
            identity_id=identity.id,
            direction="in",
            author_type="customer",
            kind=event.kind,
            text=stored_text(identity, event),  # a flow may keep a one-time code out of the thread
            attachment_id=event.file.attachment_id if event.file else None,
            latitude=event.latitude,
            longitude=event.longitude,
            platform_message_id=event.platform_message_id,
            delivery_state="received",
        )
        session.add(message)
        touch_inbound(conversation, _describe(event) if message.text == event.text else message.text)
        org = await session.get(Organization, event.org_id)
        if org is None:
            raise InvalidInput("unknown organization")
        call = FlowCall(
            session=session,
            settings=self.settings,
            org=org,
            identity=identity,
            customer=customer,
            conversation=conversation,
            event=event,
            new_customer=resolved.created,
            new_conversation=new_conversation,
            services=self.services,
        )
        replies = await run_flows(call)
        await session.flush()
        out = [
            await send_to_conversation(session=session, conversation=conversation, identity=identity, reply=r, author_type="bot")
            for r in replies
        ]
        payload = message_json(message)
        payload["org_id"] = event.org_id
        return IngestResult(
            message=payload,
            conversation_id=conversation.id,
            customer_id=identity.customer_id,  # a flow may have linked the identity to another customer
            identity_id=identity.id,
            replies=[message_json(m) for m in out],
            new_conversation=new_conversation,
        )

