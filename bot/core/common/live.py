"""Live fan-out of events to open sockets: in-process by default, through Redis across processes.

What is published lives with its feature (bot/core/conversations/live.py for messages).

Topics: `org:<id>` (inbox of that organization's agents), `conv:<id>` (agents on a conversation page),
`customer:<id>` (every open web chat tab and device of that customer).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

log = logging.getLogger(__name__)
QUEUE_LIMIT = 1000
OUTGOING_LIMIT = 10_000  # live events waiting to go to Redis; beyond, they are counted as not sent


class Subscription:
    def __init__(self, hub: Hub, topics: tuple[str, ...]) -> None:
        self.hub = hub
        self.topics = topics
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)

    def put(self, event: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:  # a stalled socket must not stall the hub; it reloads history
            log.warning("live subscriber queue full; dropping event for %s", self.topics)

    async def get(self) -> dict[str, Any]:
        return await self.queue.get()

    def close(self) -> None:
        self.hub._unsubscribe(self)

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield await self.queue.get()


class Hub:
    """In-process pub/sub."""

    def __init__(self) -> None:
        self._subs: dict[str, set[Subscription]] = defaultdict(set)

    def subscribe(self, *topics: str) -> Subscription:
        sub = Subscription(self, topics)
        for topic in topics:
            self._subs[topic].add(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        for topic in sub.topics:
            subs = self._subs.get(topic)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[topic]

    def deliver_local(self, topic: str, event: dict[str, Any]) -> int:
        subs = self._subs.get(topic, ())
        for sub in list(subs):
            sub.put(event)
        return len(subs)

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        self.deliver_local(topic, event)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class RedisHub(Hub):
    """Publishes through Redis; every process (this one included) delivers what it hears to its sockets.

    Guarantees: `publish` delivers to this process's sockets at once and never waits for Redis nor raises
    because of it: the copy for other processes goes into a bounded queue that one task sends in order. While
    Redis is unreachable, one warning line says so (no traceback; the events not sent are counted and
    reported, in one line, when Redis answers again) and everything local goes on: the ingest writer's
    callbacks after a commit (the dispatcher's wake-up) run whatever Redis does. The subscription reconnects
    on its own. Queued events go out in order, as many as have queued (up to SEND_AT_ONCE) in one message, so a
    publisher (the ingest writer, after each commit) is not held up one Redis round trip per event.

    Every process hears every message, so hearing one must cost little: a message is its origin's id on the first
    line, then one line an event, `<topic> <event's JSON>` (JSON has no raw line breaks). A process passes over its
    own messages (their events went to its sockets when published) and decodes only the events on topics one of its
    sockets listens to. Before, each event was a message of its own (four a chat message: its conversation, its
    organization's inbox, the mirrors' `messages`, its customer), which every process parsed and decoded, its own
    included: Redis took 30 % of a process's CPU samples with two processes, and their CPU per message was 0.37-0.39
    ms against one process's 0.26 (bench_scaleout). The channel is named for the format (`:live2`), so processes of
    the older version neither hear these nor warn about them while both run."""

    SEND_AT_ONCE = 500

    def __init__(self, url: str, namespace: str = "incs") -> None:
        super().__init__()
        self.CHANNEL = f"{namespace}:live2"
        import redis.asyncio as aioredis
        from redis.exceptions import RedisError

        self._redis = aioredis.from_url(url)
        self._errors: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
        self._origin = uuid.uuid4().hex
        self._task: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._outgoing: asyncio.Queue[str] = asyncio.Queue(OUTGOING_LIMIT)
        self._ready = asyncio.Event()
        self.unsent = 0  # events other processes missed during the current Redis outage

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        # Deliver here at once (no round trip for local sockets); other processes hear it from Redis.
        self.deliver_local(topic, event)
        if " " in topic or "\n" in topic:
            raise ValueError(f"a live topic has no spaces or line breaks: {topic!r}")
        try:
            self._outgoing.put_nowait(f"{topic} {json.dumps(event, default=str)}")
        except asyncio.QueueFull:
            self._not_sent("the queue to Redis is full")

    def _not_sent(self, why: str, events: int = 1) -> None:
        if not self.unsent:
            log.warning("live: could not publish to Redis (%s); other processes miss live events until it answers", why)
        self.unsent += events

    async def start(self) -> None:
        self._sender = asyncio.create_task(self._send())
        self._task = asyncio.create_task(self._listen())
        await asyncio.wait_for(self._ready.wait(), 10)

    async def _send(self) -> None:
        while True:
            lines = [self._origin, await self._outgoing.get()]
            while not self._outgoing.empty() and len(lines) <= self.SEND_AT_ONCE:
                lines.append(self._outgoing.get_nowait())
            events = len(lines) - 1
            try:
                await self._redis.publish(self.CHANNEL, "\n".join(lines))
            except self._errors as exc:
                self._not_sent(type(exc).__name__, events)
                continue
            finally:
                for _ in range(events):
                    self._outgoing.task_done()
            if self.unsent:
                log.warning("live: publishing to Redis works again; %d live events did not reach other processes", self.unsent)
                self.unsent = 0

    async def _listen(self) -> None:
        failures = 0
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self.CHANNEL)
                self._ready.set()
                if failures:
                    log.warning("live: listening to Redis again")
                    failures = 0
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._heard(message["data"])
            except self._errors as exc:
                failures += 1
                if failures == 1:
                    log.warning("live: lost the Redis subscription (%s); retrying every second", type(exc).__name__)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(1.0)

    def _heard(self, data: bytes) -> None:
        origin, _, events = data.partition(b"\n")
        if origin == self._origin.encode():  # this process's own: delivered here when published
            return
        for line in events.split(b"\n"):
            topic, space, event = line.partition(b" ")
            try:
                name = topic.decode()
                if name in self._subs:
                    if not space:
                        raise ValueError("no event")
                    self.deliver_local(name, json.loads(event))
            except (ValueError, TypeError):  # (UnicodeDecodeError and JSONDecodeError are ValueErrors)
                log.warning("live: a message on %s that is not ours was ignored", self.CHANNEL)

    async def stop(self) -> None:
        if self._sender is not None:
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):  # what is queued still goes out
                await asyncio.wait_for(self._outgoing.join(), 2)
        for task in (self._task, self._sender):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._redis.aclose()


def make_hub(redis_url: str, namespace: str = "incs") -> Hub:
    return RedisHub(redis_url, namespace) if redis_url else Hub()

