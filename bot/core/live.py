"""Live fan-out of events to open sockets: in-process by default, through Redis across processes.

Topics: `org:<id>` (inbox of that organization's agents), `conv:<id>` (agents on a conversation page),
`customer:<id>` (every open web chat tab and device of that customer).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

log = logging.getLogger(__name__)
QUEUE_LIMIT = 1000


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
        self._notices: dict[int, float] = {}

    def inbox_notice_due(self, conversation_id: int) -> bool:
        """An inbox only needs to hear "this conversation moved" about once a second, not per message."""
        stamp = time.monotonic()
        if stamp - self._notices.get(conversation_id, 0.0) < INBOX_NOTICE_SECONDS:
            return False
        if len(self._notices) > 50_000:
            self._notices.clear()
        self._notices[conversation_id] = stamp
        return True

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
    """Publishes through Redis; every process (this one included) delivers what it hears to its sockets."""

    def __init__(self, url: str, namespace: str = "incs") -> None:
        super().__init__()
        self.CHANNEL = f"{namespace}:live"
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(url)
        self._origin = uuid.uuid4().hex
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        # Deliver here at once (no round trip for local sockets); other processes hear it from Redis.
        self.deliver_local(topic, event)
        body = json.dumps({"o": self._origin, "t": topic, "e": event}, default=str)
        await self._redis.publish(self.CHANNEL, body)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen())
        await asyncio.wait_for(self._ready.wait(), 10)

    async def _listen(self) -> None:
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self.CHANNEL)
        self._ready.set()
        try:
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                data = json.loads(message["data"])
                if data.get("o") != self._origin:
                    self.deliver_local(data["t"], data["e"])
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._redis.aclose()


def make_hub(redis_url: str, namespace: str = "incs") -> Hub:
    return RedisHub(redis_url, namespace) if redis_url else Hub()


INBOX_NOTICE_SECONDS = 1.0


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
    and already has it from its ack)."""
    event = {"type": "message", "org_id": org_id, "conversation_id": conversation_id, "message": message}
    await hub.publish(f"conv:{conversation_id}", event)
    if message.get("direction") in ("in", "out"):  # the live inbox moves the row (notes do not change it)
        await hub.publish(f"org:{org_id}", inbox_event(conversation_id, message))
    if hub.inbox_notice_due(conversation_id):
        await hub.publish(f"org:{org_id}", {"type": "conversation", "conversation_id": conversation_id})
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
