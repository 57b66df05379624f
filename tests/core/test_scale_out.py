"""Two server processes on one database and one Redis: live updates cross between them, and outbox rows
are claimed by one process only, so each message goes out once."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select

from bot.core.delivery.models import OutboxItem
from bot.core.delivery.outbox import enqueue
from bot.core.storage.db import transaction
from tests.conftest import Server, make_settings, start_server
from tests.utils.factories import login, make_org
from tests.utils.webchat import Visitor

REDIS_URL = os.environ.get("INCS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


async def _pair(db_url: str, tmp_path: Path, **overrides: Any) -> tuple[Server, Server]:
    namespace = f"test-{uuid.uuid4().hex[:12]}"  # concurrent test runs never hear each other
    redis = {"url": REDIS_URL, "namespace": namespace}
    a = await start_server(make_settings(db_url, tmp_path / "data", redis=redis, **overrides))
    b = await start_server(make_settings(db_url, tmp_path / "data", redis=redis, **overrides))
    return a, b


async def test_agent_on_one_process_talks_live_with_a_visitor_on_another(db_url: str, tmp_path: Path) -> None:
    a, b = await _pair(db_url, tmp_path)
    demo = await make_org(a.ctx.factory, slug="demo")
    visitor = await Visitor(a.url).open()
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as agent:
            csrf = await login(agent, b.url, demo.admin.email)
            first = await visitor.say("hello from process A")
            conversation_id = first["message"]["conversation_id"]
            async with agent.ws_connect(f"{b.url}/workbench/ws") as ws:
                await ws.send_json({"type": "watch", "conversation_id": conversation_id})
                await _next(ws, lambda e: e.get("type") == "watching")
                await visitor.say("are you there?")
                event = await _next(ws, lambda e: e.get("type") == "message" and e["message"]["text"] == "are you there?")
                assert event["conversation_id"] == conversation_id
            async with agent.post(
                f"{b.url}/workbench/conversations/{conversation_id}/reply",
                data={"text": "yes, from process B", "csrf_token": csrf},
                headers={"Accept": "application/json"},
            ) as resp:
                reply_id = (await resp.json())["message"]["id"]
            got = await visitor.wait_message(lambda m: m["id"] == reply_id)
            assert got["text"] == "yes, from process B"
            await asyncio.sleep(0.3)
            assert not [e for e in visitor.events if e.get("message", {}).get("id") == reply_id]  # once, not twice
    finally:
        await visitor.close()
        await a.stop()
        await b.stop()


class Recorder:
    channel = "probe"

    def __init__(self, name: str, log: list[tuple[str, str]]) -> None:
        self.name = name
        self.log = log

    async def send(self, target: str, payload: dict[str, Any]) -> str | None:
        await asyncio.sleep(0.005)
        self.log.append((self.name, payload["text"]))
        return None


async def test_two_dispatchers_send_each_outbox_row_once(db_url: str, tmp_path: Path) -> None:
    # Few targets per round, so both processes keep claiming while the other is sending.
    outbox = {"poll_seconds": 0.02, "batch_size": 2, "backoff_base_seconds": 0.05, "shutdown_grace_seconds": 0.5}
    a, b = await _pair(db_url, tmp_path, outbox=outbox)
    delivered: list[tuple[str, str]] = []
    a.ctx.dispatcher.add_sender(Recorder("A", delivered))
    b.ctx.dispatcher.add_sender(Recorder("B", delivered))
    try:
        async with transaction(a.ctx.factory) as session:
            for n in range(120):
                await enqueue(session=session, channel="probe", target=f"chat{n % 12}", payload={"text": f"m{n}"},
                              idempotency_key=f"scale-{n}")
        a.ctx.dispatcher.wake()
        b.ctx.dispatcher.wake()
        for _ in range(300):
            if len(delivered) >= 120:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        async with a.ctx.factory() as session:
            pending = await session.scalar(select(func.count()).select_from(OutboxItem).where(OutboxItem.state != "sent"))
    finally:
        await a.stop()
        await b.stop()
    texts = [text for _, text in delivered]
    assert sorted(texts) == sorted(f"m{n}" for n in range(120)) and pending == 0  # all, and none twice
    assert {name for name, _ in delivered} == {"A", "B"}  # both processes took part


async def _next(ws: aiohttp.ClientWebSocketResponse, match: Any) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            event = await ws.receive_json()
            if match(event):
                return dict(event)
