"""Every open tab gets live messages, even one opened before the first message; a resent client_id is stored once."""

from __future__ import annotations

import aiohttp
from sqlalchemy import func, select

from bot.core.conversations.models import Message
from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin
from tests.utils.webchat import Visitor


async def test_a_tab_opened_before_the_first_message_gets_it_and_what_follows(server: Server, demo: OrgWithAdmin) -> None:
    jar = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    early = await Visitor(server.url, http=jar).open()
    assert early.hello["history"] == []  # no identity yet
    writer = await Visitor(server.url, http=jar).open()
    try:
        await writer.say("first words")
        history = await early.wait(lambda e: e["type"] == "history")
        assert "first words" in [m["text"] for m in history["history"]]
        await writer.say("and more")
        live = await early.wait_message(lambda m: m["text"] == "and more")
        assert live["direction"] == "in"
    finally:
        await early.ws.close()  # type: ignore[union-attr]
        await writer.close()


async def test_the_same_client_id_twice_is_stored_once(server: Server, demo: OrgWithAdmin) -> None:
    visitor = await Visitor(server.url).open()
    try:
        assert visitor.ws is not None
        frame = {"type": "text", "text": "sent twice after a dropped connection", "client_id": "tab1-7"}
        await visitor.ws.send_json(frame)
        first = await visitor.wait(lambda e: e["type"] == "ack" and e["client_id"] == "tab1-7")
        await visitor.ws.send_json(frame)
        second = await visitor.wait(lambda e: e["type"] == "ack" and e["client_id"] == "tab1-7")
        assert first["message"]["id"] == second["message"]["id"]
        other = await visitor.send({"type": "text", "text": "sent twice after a dropped connection"})
        assert other["message"]["id"] != first["message"]["id"]  # another client_id is another message
    finally:
        await visitor.close()
    async with server.ctx.factory() as session:
        count = await session.scalar(select(func.count()).select_from(Message).where(Message.text == frame["text"]))
    assert count == 2
