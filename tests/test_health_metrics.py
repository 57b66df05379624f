"""/healthz answers from the database; /metrics counts the pipeline."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin
from tests.utils.webchat import Visitor


async def test_healthz_and_metrics(server: Server, demo: OrgWithAdmin, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{server.url}/healthz") as resp:
        assert resp.status == 200 and (await resp.json())["database"] is True
    visitor = await Visitor(server.url).open()
    await visitor.say("count me")
    await visitor.wait_message(lambda m: m.get("reply_kind") == "brand_card")
    await visitor.close()
    for _ in range(50):  # the sent counter moves right after the platform call returns
        async with http.get(f"{server.url}/metrics") as resp:
            text = await resp.text()
        if 'result="sent"' in text:
            break
        await asyncio.sleep(0.05)
    assert 'incs_inbound_messages_total{channel="webchat"}' in text
    assert 'incs_outbound_messages_total{channel="webchat",result="sent"}' in text
    assert "incs_outbox_backlog" in text and "incs_delivery_latency_seconds_bucket" in text


async def test_healthz_reports_a_dead_database(server: Server) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    broken = create_async_engine("sqlite+aiosqlite:////nonexistent-dir/x.db")
    original = server.ctx.engine
    server.ctx.engine = broken
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{server.url}/healthz") as resp:
            assert resp.status == 503 and (await resp.json())["database"] is False
    finally:
        server.ctx.engine = original
        await broken.dispose()
