"""Refusals and junk: blocked bot, unparsable HTML, long texts, oversized files, floods, buttons, the health page."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiogram import Dispatcher
from sqlalchemy import select

from bot.core.conversations.models import ChannelIdentity, Conversation, Message
from bot.core.conversations.replies import reply_as_agent
from bot.core.storage.db import transaction
from tests.channels.telegram.conftest import inbound, wait_rows
from tests.conftest import Server
from tests.fakes.telegram_api import FakeTelegram
from tests.utils.factories import OrgWithAdmin, login, make_org


async def _start(tg_start: object) -> tuple[Server, OrgWithAdmin]:
    server = await tg_start(flood_limit=5, flood_window_seconds=30)  # type: ignore[operator]
    return server, await make_org(server.ctx.factory, slug="demo")


async def _reply(server: Server, demo: OrgWithAdmin, chat: int, text: str) -> int:
    rows = await wait_rows(server, inbound(chat))
    async with transaction(server.ctx.factory) as session:
        conversation = await session.get(Conversation, rows[0].conversation_id)
        assert conversation is not None
        message = await reply_as_agent(session=session, conversation=conversation, agent=demo.admin, text=text)
    server.ctx.dispatcher.wake()
    return message.id


async def _state(server: Server, message_id: int) -> str:
    for _ in range(200):
        async with server.ctx.factory() as session:
            message = await session.get(Message, message_id)
            assert message is not None
            if message.delivery_state != "pending":
                return message.delivery_state
        await asyncio.sleep(0.02)
    return "pending"


async def test_blocked_bot_marks_identity_unreachable_and_workbench_shows_it(tg_start: object, fake: FakeTelegram) -> None:
    server, demo = await _start(tg_start)
    fake.push(fake.message(601, "hello"))
    await fake.wait_for(lambda c: c.chat == "601")
    fake.blocked.add("601")
    message_id = await _reply(server, demo, 601, "are you there?")
    assert await _state(server, message_id) == "failed"
    async with server.ctx.factory() as session:
        identity = await session.scalar(select(ChannelIdentity).where(ChannelIdentity.external_id == "601"))
        assert identity is not None and identity.reachable is False
        conversation_id = await session.scalar(select(Conversation.id).where(Conversation.identity_id == identity.id))
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await login(http, server.url, demo.admin.email)
        async with http.get(f"{server.url}/workbench/conversations/{conversation_id}") as resp:
            assert "unreachable" in await resp.text()
    # Unblocking and pressing Start makes the chat reachable again.
    fake.blocked.clear()
    fake.push(fake.message(601, "/start"))
    await wait_rows(server, inbound(601), count=2)
    async with server.ctx.factory() as session:
        assert (await session.scalar(select(ChannelIdentity.reachable).where(ChannelIdentity.external_id == "601"))) is True


async def test_cant_parse_entities_is_resent_as_plain_text(tg_start: object, fake: FakeTelegram) -> None:
    server, demo = await _start(tg_start)
    fake.push(fake.message(602, "hello"))
    await fake.wait_for(lambda c: c.chat == "602" and "Write your question" in str(c.params.get("text")))  # greetings done
    fake.fail("sendMessage", 400, description="Bad Request: can't parse entities: unclosed tag", chat_id="602", only_html=True)
    message_id = await _reply(server, demo, 602, "a < b & c")
    assert await _state(server, message_id) == "sent"
    plain = [c for c in fake.sent(602) if c.params.get("text") == "a < b & c"]
    assert plain and plain[0].params.get("parse_mode") is None


async def test_long_reply_is_split_on_paragraphs_in_order(tg_start: object, fake: FakeTelegram) -> None:
    server, demo = await _start(tg_start)
    fake.push(fake.message(603, "hello"))
    await fake.wait_for(lambda c: c.chat == "603")
    paragraphs = [f"Paragraph {i}: " + "word " * 150 for i in range(12)]  # about 9,000 characters
    message_id = await _reply(server, demo, 603, "\n\n".join(paragraphs)[:4000])
    assert await _state(server, message_id) == "sent"
    from bot.channels.telegram.render import split_text

    text = "\n\n".join(paragraphs)
    parts = split_text(text)
    assert len(parts) == 3 and all(len(p) <= 4096 for p in parts)
    assert all(p.startswith("Paragraph") for p in parts)
    assert "".join(parts).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")


async def test_oversized_file_is_explained_and_the_attempt_recorded(tg_start: object, fake: FakeTelegram) -> None:
    server, _demo = await _start(tg_start)
    big = fake.add_file(b"tiny", size=25 * 1024 * 1024)
    fake.push(
        fake.message(
            604,
            None,
            document={
                "file_id": big,
                "file_unique_id": "b",
                "file_name": "scan.pdf",
                "mime_type": "application/pdf",
                "file_size": 25 * 1024 * 1024,
            },
        )
    )
    notice = await fake.wait_for(lambda c: c.chat == "604" and "20 MB" in str(c.params.get("text")))
    assert "25.0 MB" in notice[0].params["text"]
    rows = await wait_rows(server, inbound(604))
    assert "scan.pdf" in rows[0].text and "too large" in rows[0].text
    assert not any(c.method == "getFile" for c in fake.calls)


async def test_flood_is_throttled_with_one_polite_reply(tg_start: object, fake: FakeTelegram, caplog: object) -> None:
    server, _demo = await _start(tg_start)
    for i in range(12):
        fake.push(fake.message(605, f"spam {i}"))
    await fake.wait_for(lambda c: c.chat == "605" and "faster than we can read" in str(c.params.get("text")))
    rows = await wait_rows(server, inbound(605), count=5)
    await asyncio.sleep(0.2)
    assert len([c for c in fake.sent(605) if "faster than" in str(c.params.get("text"))]) == 1
    assert len(rows) == 5
    assert caplog.text.count("is flooding") == 1, "one log line per flood, not one per dropped update"  # type: ignore[attr-defined]


async def test_button_press_is_answered_and_reaches_flows(tg_start: object, fake: FakeTelegram) -> None:
    server, _demo = await _start(tg_start)
    fake.push(fake.message(606, "hello"))
    notice = await fake.wait_for(lambda c: c.chat == "606" and c.params.get("reply_markup"))
    keyboard = notice[0].params["reply_markup"]["inline_keyboard"]
    assert ["consent:yes:0"] == [b["callback_data"] for row in keyboard for b in row][:1]
    fake.push(
        {
            "callback_query": {
                "id": "cb1",
                "from": {"id": 606, "is_bot": False, "first_name": "Ann"},
                "chat_instance": "x",
                "data": "consent:yes:0",
                "message": {**notice[0].result, "reply_markup": notice[0].params["reply_markup"]},
            }
        }
    )
    await fake.wait_for(lambda c: c.method == "answerCallbackQuery")
    rows = await wait_rows(server, inbound(606), count=2)
    assert rows[1].kind == "button" and rows[1].text == "I agree"
    await fake.wait_for(lambda c: c.chat == "606" and "consent is recorded" in str(c.params.get("text")))


async def test_health_page_shows_bot_webhook_and_backlog(tg_start: object, fake: FakeTelegram) -> None:
    server, demo = await _start(tg_start)
    fake.webhook_error = (1700000000, "Connection refused")
    fake.push(fake.message(607, "hello"))
    await wait_rows(server, inbound(607))
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await login(http, server.url, demo.admin.email)
        async with http.get(f"{server.url}/workbench/telegram") as resp:
            page = await resp.text()
    assert resp.status == 200
    assert "@incs_test_bot" in page and "Connection refused" in page and "Outbox backlog" in page
    assert "Last update received" in page and "never" not in page.split("Last update received")[1][:80]


async def test_every_filter_of_the_channel_is_a_coroutine_so_no_update_hops_to_a_thread(tg_start: object) -> None:
    """aiogram runs a plain callable filter (a magic filter `F.chat.type == ...` too) with asyncio.to_thread: a thread
    hop per filter per update, about a fifth of a busy webhook's time."""
    server = await tg_start(agents_chat_id=-100500)  # type: ignore[operator]
    channel = server.ctx.services["telegram"]
    filters = [
        f
        for router in channel.router.chain_tail
        for observer in router.observers.values()
        for handler in observer.handlers
        for f in handler.filters or []
    ]
    assert filters, "no filters found: the router changed shape"
    sync = [f.callback for f in filters if not f.awaitable]
    assert not sync, f"filters run in a thread: {sync}"


async def test_updates_reach_the_router_without_an_aiogram_dispatcher(
    tg_start: object, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Dispatcher's update-level chain (outer middlewares, user and FSM context, a second propagation) cost about
    40 µs of a first contact's ~600 µs of event-loop time, for nothing this bot uses: updates go to the router."""

    async def refused(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("an update went through aiogram's Dispatcher")

    monkeypatch.setattr(Dispatcher, "feed_update", refused)
    server = await tg_start()  # type: ignore[operator]
    await make_org(server.ctx.factory, slug="demo")
    fake.push(fake.message(611, "hello, routed"))
    rows = await wait_rows(server, inbound(611))
    assert [row.text for row in rows] == ["hello, routed"]
