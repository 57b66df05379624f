"""Agents handle a conversation: notes stay internal, assign, resolve and reopen, inbox filters."""

from __future__ import annotations

import aiohttp
from sqlalchemy import select

from bot.core.conversations.models import Conversation, Message
from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin, login
from tests.utils.webchat import Visitor


async def test_note_assign_resolve_reopen(server: Server, demo: OrgWithAdmin, http: aiohttp.ClientSession) -> None:
    visitor = await Visitor(server.url).open()
    ack = await visitor.say("I need help")
    conversation_id = ack["message"]["conversation_id"]
    csrf = await login(http, server.url, demo.admin.email)
    base = f"{server.url}/workbench/conversations/{conversation_id}"
    async with http.get(f"{server.url}/workbench") as resp:
        inbox = await resp.text()
    assert 'class="unread"' in inbox and "I need help" in inbox and 'class="channel channel-webchat">Web chat<' in inbox
    async with http.post(f"{base}/note", data={"text": "VIP customer, be kind", "csrf_token": csrf}) as resp:
        assert resp.status == 200
    async with http.post(f"{base}/assign", data={"assignee_id": str(demo.admin.id), "csrf_token": csrf}) as resp:
        assert resp.status == 200
    async with http.get(f"{server.url}/workbench?mine=1") as resp:
        assert f"/workbench/conversations/{conversation_id}" in await resp.text()
    async with http.post(f"{base}/status", data={"status": "resolved", "csrf_token": csrf}) as resp:
        assert resp.status == 200
    async with http.get(f"{server.url}/workbench?status=resolved") as resp:
        assert f"/workbench/conversations/{conversation_id}" in await resp.text()
    async with http.get(f"{server.url}/workbench?status=open") as resp:
        assert f"/workbench/conversations/{conversation_id}" not in await resp.text()
    # The customer writing again reopens it.
    await visitor.say("one more thing")
    await visitor.close()
    async with server.ctx.factory() as session:
        conversation = await session.get(Conversation, conversation_id)
        assert conversation is not None
        assert conversation.status == "open" and conversation.assignee_id == demo.admin.id
        note = await session.scalar(select(Message).where(Message.direction == "note"))
        assert note is not None and note.text == "VIP customer, be kind"
    # The note never reached the customer: not in the history a visitor gets.
    again = await Visitor(server.url, http=visitor.http.__class__(cookie_jar=visitor.http.cookie_jar)).open()
    try:
        assert all(m["text"] != "VIP customer, be kind" for m in again.hello["history"])
    finally:
        await again.close()


async def test_bad_status_and_assignee_values(server: Server, demo: OrgWithAdmin, http: aiohttp.ClientSession) -> None:
    visitor = await Visitor(server.url).open()
    ack = await visitor.say("hi")
    await visitor.close()
    csrf = await login(http, server.url, demo.admin.email)
    base = f"{server.url}/workbench/conversations/{ack['message']['conversation_id']}"
    async with http.post(f"{base}/status", data={"status": "deleted", "csrf_token": csrf}) as resp:
        assert resp.status == 400
    async with http.post(f"{base}/assign", data={"assignee_id": "abc", "csrf_token": csrf}) as resp:
        assert resp.status == 400
    async with http.post(f"{base}/reply", data={"text": "   ", "csrf_token": csrf}) as resp:
        assert resp.status == 400
    async with http.post(f"{base}/reply", data={"text": "x" * 4001, "csrf_token": csrf}) as resp:
        assert resp.status == 400


async def test_organization_needs_a_name(server: Server) -> None:
    import pytest

    from bot.core.common.errors import InvalidInput
    from bot.core.orgs.organizations import create_organization
    from bot.core.storage.db import transaction

    async with transaction(server.ctx.factory) as session:
        with pytest.raises(InvalidInput, match="needs a name"):
            await create_organization(session=session, name="   ")


async def test_a_long_resolved_conversation_stays_closed_and_a_new_one_starts(
    server: Server, demo: OrgWithAdmin, http: aiohttp.ClientSession
) -> None:
    from datetime import timedelta

    from bot.core.common import clock
    jar = aiohttp.CookieJar(unsafe=True)
    visitor = await Visitor(server.url, http=aiohttp.ClientSession(cookie_jar=jar)).open()
    first = (await visitor.say("old question"))["message"]["conversation_id"]
    await visitor.close()
    csrf = await login(http, server.url, demo.admin.email)
    async with http.post(f"{server.url}/workbench/conversations/{first}/status", data={"status": "resolved", "csrf_token": csrf}):
        pass
    later = clock.now() + timedelta(days=8)
    clock.set_clock(lambda: later)
    visitor = await Visitor(server.url, http=aiohttp.ClientSession(cookie_jar=jar)).open()
    try:
        second = (await visitor.say("new question"))["message"]["conversation_id"]
    finally:
        await visitor.close()
    assert second != first
    async with server.ctx.factory() as session:
        old = await session.get(Conversation, first)
        assert old is not None and old.status == "resolved"
