"""End to end on a real server: a web chat visitor and an agent talk, both ways, everything stored."""

from __future__ import annotations

import asyncio

import aiohttp
from sqlalchemy import select

from bot.core.conversations.models import Message
from bot.core.delivery.models import OutboxItem
from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin, login
from tests.utils.webchat import Visitor


async def test_visitor_and_agent_talk_both_ways(server: Server, demo: OrgWithAdmin, http: aiohttp.ClientSession) -> None:
    visitor = await Visitor(server.url).open()
    try:
        ack = await visitor.say("Hello, my order is late")
        assert ack["type"] == "ack"
        # First contact: the brand card and the privacy notice with consent buttons arrive through the outbox.
        card = await visitor.wait_message(lambda m: m.get("reply_kind") == "brand_card")
        assert card["data"]["brand"] == "Demo Company"
        assert card["data"]["website"] == "https://demo.example.com"
        notice = await visitor.wait_message(lambda m: m.get("reply_kind") == "notice")
        assert ["I agree", "consent:yes:0"] in notice["buttons"]
        status, body = await visitor.upload("receipt.png", b"\x89PNG fake image bytes", "image/png")
        assert status == 200, body
        assert body["message"]["kind"] == "photo"

        csrf = await login(http, server.url, demo.admin.email)
        async with http.get(f"{server.url}/workbench") as resp:
            inbox = await resp.text()
        conversation_id = ack["message"]["conversation_id"]
        assert f"/workbench/conversations/{conversation_id}" in inbox
        async with http.get(f"{server.url}/workbench/conversations/{conversation_id}") as resp:
            page = await resp.text()
        assert "Hello, my order is late" in page
        assert "📎 receipt.png" in page and "file #" not in page  # the agent sees the file by its name

        async with http.post(
            f"{server.url}/workbench/conversations/{conversation_id}/reply",
            data={"text": "Sorry! It ships today.", "csrf_token": csrf},
            headers={"Accept": "application/json"},
        ) as resp:
            assert resp.status == 200, await resp.text()
            reply_id = (await resp.json())["message"]["id"]

        got = await visitor.wait_message(lambda m: m["id"] == reply_id)
        assert got["text"] == "Sorry! It ships today." and got["author"] == "agent"
    finally:
        await visitor.close()

    async with server.ctx.factory() as session:
        rows = (await session.scalars(select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id))).all()
        texts = [(m.direction, m.author_type, m.text) for m in rows]
        assert ("in", "customer", "Hello, my order is late") in texts
        assert ("out", "agent", "Sorry! It ships today.") in texts
        assert any(m.kind == "photo" and m.attachment_id for m in rows)
        # delivery states recorded: the agent reply is sent once, through one outbox row
        for _ in range(50):
            await session.refresh(rows[-1])
            reply = next(m for m in rows if m.id == reply_id)
            await session.refresh(reply)
            if reply.delivery_state == "sent":
                break
            await asyncio.sleep(0.05)
        assert reply.delivery_state == "sent"
        items = (await session.scalars(select(OutboxItem).where(OutboxItem.message_id == reply_id))).all()
        assert len(items) == 1 and items[0].state == "sent" and items[0].sends == 1 and items[0].attempts == 0  # no failed attempt
