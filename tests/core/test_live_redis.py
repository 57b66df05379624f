"""Scale-out fan-out: a message published by one process reaches sockets held by another, through Redis."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path
from urllib.parse import urlparse

import pytest

from bot.core.conversations.live import RedisHub
from tests.conftest import make_settings, start_server
from tests.utils.checks import no_tracebacks
from tests.utils.factories import make_org
from tests.utils.tcp_proxy import TcpProxy
from tests.utils.webchat import Visitor

# The machine's Redis (CI starts it in .ci/run); database 15 keeps tests away from real data.
REDIS_URL = os.environ.get("INCS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


async def test_two_processes_share_live_events_through_redis() -> None:
    a, b = RedisHub(REDIS_URL), RedisHub(REDIS_URL)
    await a.start()
    await b.start()
    try:
        on_b = b.subscribe("conv:7")
        on_a = a.subscribe("conv:7")
        await a.publish("conv:7", {"type": "message", "text": "from A"})
        assert (await _get(on_b))["text"] == "from A"
        assert (await _get(on_a))["text"] == "from A"  # local delivery, once
        assert on_a.queue.empty()
    finally:
        await a.stop()
        await b.stop()


async def _get(sub: object) -> dict[str, object]:
    import asyncio

    return await asyncio.wait_for(sub.get(), 5)  # type: ignore[attr-defined]


async def test_a_redis_outage_costs_one_log_line_and_local_delivery_and_wake_ups_go_on(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis unreachable after start: the commit's callbacks still wake the dispatcher (its poll is a minute
    here, so only the wake-up delivers the bot's replies in time), one warning line, no traceback."""
    url = urlparse(REDIS_URL)
    proxy = await TcpProxy(url.hostname or "127.0.0.1", url.port or 6379).start()
    redis = {"url": f"redis://127.0.0.1:{proxy.port}{url.path}", "namespace": f"t{secrets.token_hex(4)}"}
    server = await start_server(make_settings(sqlite_url, tmp_path / "data", redis=redis,
                                              outbox={"poll_seconds": 60.0, "shutdown_grace_seconds": 0.5}))
    visitor = Visitor(server.url)
    try:
        await make_org(server.ctx.factory, slug="demo")
        await proxy.cut()
        await visitor.open()
        for n in range(3):
            assert (await visitor.say(f"while Redis is away {n}"))["type"] == "ack"
        await visitor.wait_message(lambda m: m["direction"] == "out", timeout=15)  # the bot's first reply
        hub = server.ctx.hub
        assert isinstance(hub, RedisHub)
        async with asyncio.timeout(30):
            while hub.unsent < 3:  # noqa: ASYNC110 - the sender task gives up on each event in turn
                await asyncio.sleep(0.05)
        lines = [r.getMessage() for r in caplog.records if "could not publish to Redis" in r.getMessage()]
        assert len(lines) == 1, lines
        no_tracebacks(caplog)
        await proxy.mend()
        await visitor.say("Redis is back")
        async with asyncio.timeout(30):
            while not any("works again" in r.getMessage() for r in caplog.records):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        no_tracebacks(caplog)
    finally:
        await visitor.close()
        await server.stop()
        await proxy.stop()


async def test_a_burst_reaches_the_other_process_in_order() -> None:
    a, b = RedisHub(REDIS_URL), RedisHub(REDIS_URL)
    await a.start()
    await b.start()
    try:
        on_b = b.subscribe("org:3")
        for n in range(300):  # the ingest writer after one large batch: queued here, sent pipelined
            await a.publish("org:3", {"type": "inbox", "n": n})
        assert [(await _get(on_b))["n"] for _ in range(300)] == list(range(300))
    finally:
        await a.stop()
        await b.stop()


async def test_a_process_decodes_only_other_processes_events_on_topics_its_sockets_listen_to(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every process hears every message: its own (already delivered here) is passed over, and of another's only
    the events on topics its sockets listen to are decoded. Shown with events whose JSON is broken: those passed
    over cost no warning, the one decoded does, and the events after it in the same message still arrive."""
    import redis.asyncio as aioredis

    namespace = f"t{secrets.token_hex(4)}"
    hub = RedisHub(REDIS_URL, namespace)
    await hub.start()
    raw = aioredis.from_url(REDIS_URL)
    try:
        here = hub.subscribe("conv:1")
        other = "f" * 32
        await raw.publish(hub.CHANNEL, f"{hub._origin}\nconv:1 not json")  # its own: delivered when published
        await raw.publish(hub.CHANNEL, f"{other}\nconv:2 not json\nconv:1 " + '{"text": "for conv:1"}')  # nobody here on conv:2
        assert (await _get(here))["text"] == "for conv:1"
        assert here.queue.empty()
        assert not [r for r in caplog.records if "not ours" in r.getMessage()]
        await raw.publish(hub.CHANNEL, f"{other}\nconv:1 not json\nconv:1 " + '{"text": "after"}')
        assert (await _get(here))["text"] == "after"
        assert len([r for r in caplog.records if "not ours" in r.getMessage()]) == 1
    finally:
        await raw.aclose()
        await hub.stop()


async def test_publishing_never_waits_on_redis_and_local_sockets_get_the_event_while_it_is_away() -> None:
    """The publisher (the ingest writer, between batches) is not held up by Redis: with Redis unreachable the event
    still reaches this process's sockets at once and publish returns (it used to raise the connection error)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"  # nothing listens there
    hub = RedisHub(dead)  # not started: start() waits for Redis
    local = hub.subscribe("conv:9")
    try:
        await asyncio.wait_for(hub.publish("conv:9", {"type": "message", "text": "still here"}), 1)
        assert (await _get(local))["text"] == "still here"
    finally:
        await hub.stop()

