"""The ingest path: store, attach to a conversation, run the flows, queue replies — then acknowledge.

Many events share one commit ("group commit"): a writer task takes whatever has queued up,
handles it all in one transaction, commits once and only then resolves each caller's future.
A batch that fails is retried one event at a time, so one bad event fails alone. On PostgreSQL a batch whose only
write is one statement commits with it; when a COMMIT is left to send (the WAL flush of `synchronous_commit`), the
next batch is read and handled meanwhile, then written once that one has committed; a chat or customer of the batch
in flight waits for it.

The batch's bulk rows are written with SQLAlchemy Core (ingest_writes.py): the new chats first, one INSERT
per table; then, after every event's flows have run, the messages, the outbox rows and the touched columns.
Flows get ORM objects and whatever they change themselves is flushed by the ORM at commit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.config import Settings
from bot.core.common import metrics
from bot.core.common.clock import now
from bot.core.common.errors import DomainError, InvalidInput, ServiceUnavailable
from bot.core.common.tasks import finish_or_cancel
from bot.core.conversations.customers import resolve_identity
from bot.core.conversations.events import InboundEvent
from bot.core.conversations.ingest_batch import InFlight, IngestResult, Item, Pending, Preloaded, chat_of, next_batch
from bot.core.conversations.ingest_writes import BatchWrites, create_first_contacts, message_row
from bot.core.conversations.live import Hub, publish_message
from bot.core.conversations.models import Message
from bot.core.conversations.threads import open_conversation_for
from bot.core.conversations.turns import FlowRunner, NoFlows, Turn
from bot.core.delivery.outbox import queued_channels
from bot.core.storage.batch import begin_batch, rows_moved
from bot.core.storage.db import SessionFactory, inline_transaction, is_sqlite, statements_alone, write_turn

log = logging.getLogger(__name__)
MAX_BATCH = 256
UNCONFIRMED = "your message was saved, but confirming it failed; there is no need to send it again"
SLOW_BATCH_SECONDS = 0.05
_STOP: Any = object()  # queue sentinel: drain, then stop


class _ReadAfterIt(Exception):  # noqa: N818 - not an error: the batch is read again after the one in flight
    """The batch shares a customer with the batch in flight: read again once that one has committed."""


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
        raise InvalidInput("the message is longer than %(limit)s characters", limit=settings.webchat.max_text_length)
    if event.kind == "location":
        if event.latitude is None or event.longitude is None:
            raise InvalidInput("a location needs latitude and longitude")
        if not (-90 <= event.latitude <= 90 and -180 <= event.longitude <= 180):
            raise InvalidInput("latitude or longitude out of range")
    if event.kind in ("file", "photo") and event.file is None:
        raise InvalidInput("a file message needs a file")


class Ingestor:
    def __init__(
        self,
        *,
        factory: SessionFactory,
        settings: Settings,
        hub: Hub,
        services: dict[str, Any] | None = None,
        flows: FlowRunner | None = None,
    ) -> None:
        self.factory = factory
        self.flows: FlowRunner = flows if flows is not None else NoFlows()
        self.settings = settings
        self.hub = hub
        self.services = services if services is not None else {}
        self.on_committed: list[Any] = []  # called after every commit
        # called after a commit that queued deliveries (the dispatcher's wake-up), with the channels queued for
        # (None: not known, any channel may have new items)
        self.on_replies: list[Any] = []
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
        await finish_or_cancel(self._task, 10)
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
        """One batch at a time on SQLite (one writer). On PostgreSQL the next batch is read and handled while the
        one before it sends its COMMIT (its WAL flush) and acknowledges, unless its write committed itself: each
        batch writes only after the one before it has committed, so ids and commits keep their order, and a chat or
        customer of the batch in flight waits for it (`InFlight`, `next_batch`)."""
        bind = self.factory.kw.get("bind")
        overlap = isinstance(bind, AsyncEngine) and not is_sqlite(str(bind.url))
        waiting: list[Item] = []
        previous: InFlight | None = None
        running: set[asyncio.Task[None]] = set()
        stop = False
        try:
            while not (stop and not waiting):
                if not waiting and not stop:
                    waiting.append(await self._queue.get())
                    # SQLite: one turn of the event loop before the batch is taken, so the webhook handlers already
                    # resumed in this turn (the first one's put woke the writer ahead of them) are in it. Measured on
                    # Telegram first contact: 9 % more updates a second, 8 % less CPU each. Not on PostgreSQL, whose
                    # next batch is read while the one before commits: there the web chat measured 5 % slower with it.
                    if not overlap:
                        await asyncio.sleep(0)
                while len(waiting) < MAX_BATCH and not self._queue.empty():
                    waiting.append(self._queue.get_nowait())
                if _STOP in waiting:
                    waiting = [item for item in waiting if item is not _STOP]
                    stop = True
                batch, waiting = next_batch(waiting, previous, MAX_BATCH)
                if not batch:
                    if previous is not None:
                        await previous.finished()
                    continue
                if previous is not None and previous.task is not None and previous.task.done():
                    previous = None
                flight = InFlight(chats={chat_of(item) for item in batch})
                flight.task = asyncio.create_task(self._write_logged(batch, previous, flight), name="ingest-writer")
                running.add(flight.task)
                flight.task.add_done_callback(running.discard)
                previous = flight
                await (flight.flushed.wait() if overlap else flight.finished())  # flushed: set at the latest when done
        except asyncio.CancelledError:
            for task in running:  # stopped without its grace: the batches in flight go with it
                task.cancel()
            raise
        finally:
            if running:
                await asyncio.wait(running)

    async def _write_logged(self, batch: list[Item], previous: InFlight | None, flight: InFlight) -> None:
        try:
            await self._write(batch, previous, flight)
        except Exception:  # noqa: BLE001 - the writer must outlive any one batch
            log.exception("ingest batch failed")
        finally:
            flight.flushed.set()

    async def _write(
        self, batch: list[Item], previous: InFlight | None = None, flight: InFlight | None = None, *, read_again: bool = True,
    ) -> None:
        started = time.perf_counter()
        committed = False
        try:
            marks = [time.perf_counter()]
            async with write_turn(self.factory, urgent=True), self.factory() as session:
                async with inline_transaction(session):  # SQLite: no trip to its thread per statement
                    events = [event for event, _ in batch]
                    async with statements_alone(session):  # PostgreSQL: a read needs no BEGIN before it
                        known = await Preloaded.load(session, events)
                    if previous is not None and previous.customers & known.customers.keys():
                        raise _ReadAfterIt  # a customer of both (a chat on another channel): read it after that commit
                    new = [e for e in events if e.org_id in known.orgs and (e.org_id, e.channel, e.external_id) not in known.identities]
                    known.first_contact(await create_first_contacts(session=session, events=new))
                    begin_batch(session, known.customers)  # facts the flows ask per event, read once for the batch
                    known.keep_facts(session)  # ... with the preload
                    marks.append(time.perf_counter())
                    writes = BatchWrites()
                    pending = [await self._handle(session, event, known, writes) for event in events]
                    marks.append(time.perf_counter())
                    if previous is not None:
                        await previous.finished()  # writes (ids) and commits in batch order
                    # A batch whose only write is one statement (PostgreSQL: a known chat's messages, no reply, nothing
                    # read or written since the preload, nothing the ORM would flush) commits with that statement.
                    alone = writes.one_statement(session) and not (session.new or session.dirty or session.deleted)
                    async with statements_alone(session, when=alone) as committing:
                        await writes.flush(session)  # one INSERT per table, one executemany UPDATE per set of touched columns
                    committed = committing  # stored: a failure from here on must not write it again
                    marks.append(time.perf_counter())
                    results = [item.result() for item in pending]
                    queued = queued_channels(session)
                    # The next batch is read and handled while this one commits: not when there is no COMMIT left to
                    # wait for (the write committed itself: it would start on the few events that came in meanwhile,
                    # splitting the writer's batches), nor after a merge (the next batch waits for the commit).
                    if flight is not None and not committing and not rows_moved(session):
                        flight.customers = set(known.customers) | {item.identity.customer_id for item in pending}
                        flight.flushed.set()
                marks.append(time.perf_counter())
                committed = True
                # Acknowledged and published at once: before the connection goes back to the pool (its reset is one
                # more trip to the database thread) and the write turn is handed on.
                await self._acknowledge(batch, results, queued)
        except _ReadAfterIt:
            assert previous is not None
            await previous.finished()
            await self._write(batch, None, flight)
            return
        except Exception as exc:  # noqa: BLE001
            if previous is not None:  # the one before is written first, whatever became of this one
                await previous.finished()
            if committed:  # stored: never written again; what failed was after the commit
                log.exception("after an ingest commit")
                for _, future in batch:  # no caller waits forever; a platform's retry of its update is a duplicate
                    if not future.done():
                        future.set_exception(ServiceUnavailable(UNCONFIRMED))
                return
            if len(batch) == 1 and read_again and isinstance(exc, IntegrityError):
                # What it read changed before it wrote (another process created this new chat, or a retention
                # sweep deleted its conversation, meanwhile): it is read and handled once more, from what is
                # stored now, instead of failing and leaving the platform to retry (nothing was written).
                log.info("an ingest's %s event on %s met a row written meanwhile; read again", batch[0][0].kind, batch[0][0].channel)
                await self._write(batch, read_again=False)
                return
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
        took = time.perf_counter() - started
        if took > SLOW_BATCH_SECONDS:
            steps = ", ".join(f"{(b - a) * 1000:.0f}" for a, b in zip(marks, marks[1:], strict=False))
            log.warning("slow ingest batch: %d events in %.0f ms (load, handle, flush, commit: %s ms)", len(batch), took * 1000, steps)

    async def _acknowledge(
        self, batch: list[tuple[InboundEvent, asyncio.Future[IngestResult]]], results: list[IngestResult], queued: frozenset[str],
    ) -> None:
        metrics.INGEST_BATCH.observe(len(batch))
        for (event, future), result in zip(batch, results, strict=True):
            metrics.INBOUND.labels(event.channel).inc()
            result.origin = event.extra.get("origin")
            if not future.done():
                future.set_result(result)
        await self._after_commit(results, queued)

    async def _after_commit(self, results: list[IngestResult], queued: frozenset[str]) -> None:
        for result in results:
            if result.duplicate:
                continue
            org_id = int(result.message["org_id"])
            await publish_message(
                self.hub,
                org_id=org_id,
                conversation_id=result.conversation_id,
                customer_id=result.customer_id,
                message=result.message,
                origin=result.origin,
            )
            for reply in result.replies:
                await publish_message(self.hub, org_id=org_id, conversation_id=result.conversation_id, customer_id=None, message=reply)
        for callback in self.on_committed:
            callback()
        # No delivery queued, no dispatcher round needed. A reply whose outbox row no writer named (none should
        # exist) wakes it for every channel.
        if queued or any(result.replies for result in results):
            for callback in self.on_replies:
                callback(queued or None)

    async def _handle(
        self, session: AsyncSession, event: InboundEvent, known: Preloaded, writes: BatchWrites
    ) -> Pending:
        org = known.orgs.get(event.org_id)
        if org is None:
            raise InvalidInput("unknown organization")
        key = (event.org_id, event.channel, event.external_id)
        identity = known.identities.get(key)
        stamp = now()
        created = key in known.created  # this batch created the chat: its first event is a first contact
        if identity is None:  # created by an earlier event's flow in this batch (identities are never deleted here)
            resolved = await resolve_identity(
                session=session, org_id=event.org_id, channel=event.channel, external_id=event.external_id,
                display_name=event.display_name, locale=event.locale,
            )
            identity, customer, created = resolved.identity, resolved.customer, resolved.created
            known.identities[key] = identity
        elif created:
            known.created.discard(key)
            customer = await known.customer(session, identity)
        else:
            customer = await known.customer(session, identity)
            writes.touch_seen(identity, customer, event.display_name, stamp)
        if event.platform_message_id:
            seen = (identity.id, event.platform_message_id)
            if seen in known.platform_ids:  # stored earlier (preloaded) or earlier in this batch
                earlier: Message | dict[str, Any] | None = known.batch_rows.get(seen)
                if earlier is None:
                    earlier = await session.scalar(
                        select(Message).where(Message.identity_id == identity.id, Message.platform_message_id == event.platform_message_id)
                    )
                return Pending(duplicate=earlier, identity=identity, customer=customer)
            known.platform_ids.add(seen)
        conversation = known.conversations.get(identity.id)
        new_conversation = created
        if conversation is None:
            conversation, new_conversation = await open_conversation_for(session=session, identity=identity)
            known.conversations[identity.id] = conversation
        text = self.flows.stored_text(identity, event)  # a flow may keep a one-time code out of the thread
        message = writes.add_message(message_row(
            org_id=event.org_id, conversation_id=conversation.id, identity_id=identity.id, direction="in",
            author_type="customer", kind=event.kind, text=text, attachment_id=event.file.attachment_id if event.file else None,
            latitude=event.latitude, longitude=event.longitude, platform_message_id=event.platform_message_id,
            delivery_state="received", created_at=stamp,
        ))
        if event.platform_message_id:
            known.batch_rows[(identity.id, event.platform_message_id)] = message
        writes.touch_inbound(conversation, _describe(event) if text == event.text else text, stamp)
        turn = Turn(
            session=session,
            settings=self.settings,
            org=org,
            identity=identity,
            customer=customer,
            conversation=conversation,
            event=event,
            new_customer=created,
            new_conversation=new_conversation,
            services=self.services,
        )
        replies = await self.flows.run(turn)
        out = [writes.add_reply(conversation=conversation, identity=identity, reply=r, stamp=now()) for r in replies]
        return Pending(message=message, conversation=conversation, identity=identity, customer=customer, replies=out,
                        new_conversation=new_conversation)
