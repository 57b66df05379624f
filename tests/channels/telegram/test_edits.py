"""Edits across Telegram: a customer's edit reaches its mirror in the agents' topic (or a note when the mirror
cannot be edited), an agent's edit in the topic reaches the customer's copy; the command menus at start."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import select

from bot.core.common.clock import now
from bot.core.conversations.models import Message
from bot.core.notifications.models import NotificationTarget
from bot.core.storage.db import transaction
from tests.channels.telegram.conftest import inbound, wait_rows
from tests.fakes.telegram_api import Call, FakeTelegram
from tests.utils.factories import make_org

AGENTS = -1009876
CUSTOMER = 6161
AGENT_USER = 888


def _in_topic(fake: FakeTelegram, fragment: str) -> Any:
    def match(c: Call) -> bool:
        return c.ok and c.chat == str(AGENTS) and c.method.startswith("send") and fragment in str(c.params.get("text", ""))

    return match


async def test_customer_edit_edits_the_mirror_or_posts_a_note(tg_start: Any, fake: FakeTelegram) -> None:
    server = await tg_start(agents_chat_id=AGENTS)
    await make_org(server.ctx.factory, slug="demo")
    first = fake.push(fake.message(CUSTOMER, "Where is my order?"))
    mirror = (await fake.wait_for(_in_topic(fake, "Where is my order?")))[0]
    thread = mirror.params["message_thread_id"]

    fake.push(fake.edited(first, "Where is my order #42?"))
    edit = (await fake.wait_for(lambda c: c.method == "editMessageText" and c.chat == str(AGENTS)))[0]
    assert edit.ok and int(edit.params["message_id"]) == mirror.result["message_id"]
    assert edit.params["text"] == "👤 Customer (edited)\nWhere is my order #42?"
    rows = await wait_rows(server, inbound(CUSTOMER))
    assert rows[0].text == "Where is my order #42?" and rows[0].edited

    # An agent deleted the mirror in the topic: the edit cannot land, so a short note says what changed.
    second = fake.push(fake.message(CUSTOMER, "second thought"))
    mirror2 = (await fake.wait_for(_in_topic(fake, "second thought")))[0]
    fake.delete_message(AGENTS, mirror2.result["message_id"])
    fake.push(fake.edited(second, "second thought, fixed"))
    note = (await fake.wait_for(_in_topic(fake, "(edited) second thought, fixed")))[0]
    assert str(note.params["message_thread_id"]) == str(thread)
    assert any(c.method == "editMessageText" and c.status == 400 for c in fake.calls)

    # A photo's mirror is not text: its caption edit becomes a note too, without sending the photo again.
    photo = fake.add_file(b"\xff\xd8\xff jpeg")
    sized = [{"file_id": photo, "file_unique_id": "p1", "width": 9, "height": 9, "file_size": 9}]
    third = fake.push(fake.message(CUSTOMER, None, photo=sized, caption="the label"))
    await fake.wait_for(lambda c: c.method == "sendPhoto" and c.chat == str(AGENTS))
    fake.push(fake.edited(third, caption="the new label"))
    await fake.wait_for(_in_topic(fake, "(edited) the new label"))
    assert len([c for c in fake.calls if c.method == "sendPhoto" and c.chat == str(AGENTS)]) == 1
    assert not any("new label" in str(c.params.get("text")) for c in fake.calls if c.method == "editMessageText")


async def test_agent_edit_in_topic_edits_the_customer_copy_and_the_stored_reply(tg_start: Any, fake: FakeTelegram) -> None:
    server = await tg_start(agents_chat_id=AGENTS)
    demo = await make_org(server.ctx.factory, slug="demo")
    async with transaction(server.ctx.factory) as session:  # the agent linked their Telegram account earlier
        session.add(
            NotificationTarget(org_id=demo.org.id, agent_id=demo.admin.id, kind="telegram", address=str(AGENT_USER), verified_at=now())
        )
    fake.push(fake.message(CUSTOMER, "Where is my order?"))
    thread = (await fake.wait_for(_in_topic(fake, "Where is my order?")))[0].params["message_thread_id"]

    written = fake.push(fake.message(AGENTS, "It ships <today>", user_id=AGENT_USER, chat_type="supergroup", thread_id=thread))
    copy = (await fake.wait_for(lambda c: c.chat == str(CUSTOMER) and c.params.get("text") == "It ships &lt;today&gt;"))[0]
    fake.push(fake.edited(written, "It ships <tomorrow>"))
    edit = (await fake.wait_for(lambda c: c.method == "editMessageText" and c.chat == str(CUSTOMER)))[0]
    assert edit.ok and int(edit.params["message_id"]) == copy.result["message_id"]
    assert edit.params["text"] == "It ships &lt;tomorrow&gt;" and edit.params["parse_mode"] == "HTML"
    rows = await wait_rows(server, select(Message).where(Message.text == "It ships <tomorrow>"))
    assert rows and rows[0].edited and rows[0].author_agent_id == demo.admin.id and rows[0].direction == "out"

    # The same edit delivered again changes nothing; a later reply still goes out after it, once.
    fake.push(fake.edited(written, "It ships <tomorrow>"))
    fake.push(fake.message(AGENTS, "Anything else?", user_id=AGENT_USER, chat_type="supergroup", thread_id=thread))
    await fake.wait_for(lambda c: c.chat == str(CUSTOMER) and c.params.get("text") == "Anything else?")
    assert len(fake.edits(CUSTOMER)) == 1
    # In polling mode too, the command menus were set at start.
    assert set(fake.commands) == {"", "zh"}


async def test_command_menus_set_at_start_in_english_and_chinese_and_retried_after_a_failure(
    tg_start: Any, fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.channels.telegram.commands")
    fake.fail("setMyCommands", 502, description="Bad Gateway")
    server = await tg_start(mode="webhook")  # the failure does not hold up start-up
    assert server.runner.server is not None
    await fake.wait_for(lambda c: c.method == "setWebhook")
    await fake.wait_for(lambda c: c.method == "setMyCommands" and c.ok and c.params.get("language_code") == "zh")
    english, chinese = fake.commands[""], fake.commands["zh"]
    assert [c["command"] for c in english] == ["start", "help", "language", "verify", "ticket", "status", "privacy"]
    assert [c["command"] for c in chinese] == ["start", "help", "language", "verify", "ticket", "status", "privacy"]
    assert english[3]["description"] == "Confirm who you are with a one-time code"
    assert chinese[3]["description"] == "通过一次性验证码确认您的身份"
    calls = [c for c in fake.calls if c.method == "setMyCommands"]
    assert calls[0].status == 502 and all(c.params["scope"] == {"type": "all_private_chats"} for c in calls)
    assert "setMyCommands (en) failed (Bad Gateway)" in caplog.text


async def test_agent_edit_in_topic_reaches_a_web_chat_customers_open_tab(tg_start: Any, fake: FakeTelegram) -> None:
    from tests.utils.webchat import Visitor

    server = await tg_start(agents_chat_id=AGENTS)
    demo = await make_org(server.ctx.factory, slug="demo")
    async with transaction(server.ctx.factory) as session:
        session.add(
            NotificationTarget(org_id=demo.org.id, agent_id=demo.admin.id, kind="telegram", address=str(AGENT_USER), verified_at=now())
        )
    visitor = await Visitor(server.url).open()
    try:
        await visitor.say("Hello from the web")
        thread = (await fake.wait_for(_in_topic(fake, "Hello from the web")))[0].params["message_thread_id"]
        written = fake.push(fake.message(AGENTS, "Reply v1", user_id=AGENT_USER, chat_type="supergroup", thread_id=thread))
        reply = await visitor.wait_message(lambda m: m["text"] == "Reply v1")
        fake.push(fake.edited(written, "Reply v2"))
        event = await visitor.wait(lambda e: e["type"] == "message_edited")
        assert event["message"]["id"] == reply["id"] and event["message"]["text"] == "Reply v2"
    finally:
        await visitor.close()
