"""Agents' topics: mirror into a forum topic, agent replies from the topic, workbench in sync, deleted topic recreated."""

from __future__ import annotations

import re

import aiohttp
from sqlalchemy import select

from bot.core.conversations.models import Message
from bot.core.notifications.models import NotificationTarget
from tests.channels.telegram.conftest import inbound, wait_rows
from tests.fakes.telegram_api import FakeTelegram
from tests.utils.factories import login, make_org

AGENTS = -1001234
CUSTOMER = 5151
AGENT_USER = 777


def _topic_texts(fake: FakeTelegram, thread: int) -> list[str]:
    return [str(c.params.get("text", "")) for c in fake.sent(AGENTS) if str(c.params.get("message_thread_id")) == str(thread)]


async def test_topic_round_trip_and_recreated_topic(tg_start: object, fake: FakeTelegram) -> None:
    server = await tg_start(agents_chat_id=AGENTS)  # type: ignore[operator]
    demo = await make_org(server.ctx.factory, slug="demo")
    fake.push(fake.message(CUSTOMER, "Where is my order?"))
    created = await fake.wait_for(lambda c: c.method == "createForumTopic")
    assert created[0].chat == str(AGENTS) and "#" in created[0].params["name"]
    thread = created[0].result["message_thread_id"]
    await fake.wait_for(lambda c: c.method == "sendMessage" and "Where is my order?" in str(c.params.get("text")))
    assert any(t.startswith("👤 Customer") and "Where is my order?" in t for t in _topic_texts(fake, thread))

    # An unlinked Telegram user writing in the topic is told to link first; nothing reaches the customer.
    fake.push(fake.message(AGENTS, "I am not linked", user_id=AGENT_USER, chat_type="supergroup", thread_id=thread))
    await fake.wait_for(lambda c: "link your Telegram account" in str(c.params.get("text")))
    assert "I am not linked" not in fake.texts(CUSTOMER)

    # The agent links their Telegram account with a one-time code from the workbench.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await login(http, server.url, demo.admin.email)
        async with http.post(f"{server.url}/workbench/telegram/link", data={"csrf_token": csrf}) as resp:
            code = re.search(r"/link ([A-Z0-9]{10})", await resp.text())
        assert code is not None
        fake.push(fake.message(AGENT_USER, f"/link {code.group(1)}"))
        await fake.wait_for(lambda c: c.chat == str(AGENT_USER) and "linked" in str(c.params.get("text")))
        async with server.ctx.factory() as session:
            target = await session.scalar(select(NotificationTarget).where(NotificationTarget.kind == "telegram"))
        assert target is not None and target.address == str(AGENT_USER) and target.agent_id == demo.admin.id

        # Reply from the topic -> the customer, recorded as the agent's reply, not mirrored back.
        fake.push(fake.message(AGENTS, "It ships <today>", user_id=AGENT_USER, chat_type="supergroup", thread_id=thread))
        await fake.wait_for(lambda c: c.chat == str(CUSTOMER) and "It ships &lt;today&gt;" == c.params.get("text"))
        rows = await wait_rows(server, select(Message).where(Message.text == "It ships <today>"))
        assert rows[0].author_type == "agent" and rows[0].author_agent_id == demo.admin.id
        conversation_id = rows[0].conversation_id

        # Workbench reply -> the customer and the topic.
        async with http.post(
            f"{server.url}/workbench/conversations/{conversation_id}/reply",
            data={"text": "From the workbench", "csrf_token": csrf},
            headers={"Accept": "application/json"},
        ) as resp:
            assert resp.status == 200
        await fake.wait_for(lambda c: c.chat == str(AGENTS) and "From the workbench" in str(c.params.get("text")))
        async with http.get(f"{server.url}/workbench/conversations/{conversation_id}") as resp:
            assert "It ships &lt;today&gt;" in await resp.text()
    assert not any("It ships" in t for t in _topic_texts(fake, thread)), "a topic reply was mirrored back into the topic"

    # Someone deletes the topic: the next customer message recreates it.
    fake.deleted_threads.add(thread)
    fake.push(fake.message(CUSTOMER, "Any news?"))
    await wait_rows(server, inbound(CUSTOMER), count=2)
    calls = await fake.wait_for(lambda c: c.method == "createForumTopic" and c.result and c.result["message_thread_id"] != thread)
    new_thread = calls[0].result["message_thread_id"]
    await fake.wait_for(
        lambda c: str(c.params.get("message_thread_id")) == str(new_thread) and "Any news?" in str(c.params.get("text"))
    )
