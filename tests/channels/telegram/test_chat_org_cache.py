"""The chat -> organization cache of the Telegram channel is bounded (the oldest chats are forgotten first), and
chats not in it are looked up together: one query for all the chats asked for at once; on SQLite a chat that chose no
organization needs no query at all."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
from sqlalchemy import delete, event, select

from bot.channels.telegram.chat_orgs import CHAT_ORGS_KEPT, CHOSEN_KEPT, KNOWN_SECONDS, ChatOrgs
from bot.channels.telegram.keys import TG
from bot.channels.telegram.models import TelegramChat
from bot.channels.telegram.store import set_chat_org
from bot.core.conversations.live import chats_forgotten
from bot.core.conversations.models import Message
from bot.core.storage.db import transaction
from tests.channels.telegram.conftest import tg_settings, wait_rows
from tests.conftest import Server, start_server
from tests.core.test_scale_out import REDIS_URL
from tests.fakes.telegram_api import FakeTelegram
from tests.utils.factories import OrgWithAdmin, make_org
from tests.utils.waits import until


def test_the_chat_organization_cache_keeps_only_the_newest_chats() -> None:
    orgs = ChatOrgs(SimpleNamespace())  # type: ignore[arg-type]
    for chat in range(CHAT_ORGS_KEPT + 10):
        orgs.remember(chat, 1)
    orgs.remember(10, 2)  # seen again: newest now
    orgs.remember(-1, 1)
    assert len(orgs.known) == CHAT_ORGS_KEPT
    assert 0 not in orgs.known and 11 not in orgs.known  # the oldest went first
    assert orgs.known[10] == 2 and orgs.known[-1] == 1


async def _demo_acme_and_chat_7(server: Server) -> tuple[OrgWithAdmin, OrgWithAdmin, ChatOrgs]:
    """Organizations "demo" (the default) and "acme", which chat 7 chose; the cache of a channel on the server."""
    default = await make_org(server.ctx.factory, slug="demo")
    other = await make_org(server.ctx.factory, slug="acme")
    async with transaction(server.ctx.factory) as session:
        await set_chat_org(session=session, chat_id=7, org_id=other.org.id)
    channel: Any = SimpleNamespace(ctx=server.ctx, config=SimpleNamespace(default_org="demo"))
    return default, other, ChatOrgs(channel)


async def test_new_chats_asked_for_at_once_are_looked_up_with_one_query(server: Server) -> None:
    default, other, orgs = await _demo_acme_and_chat_7(server)
    selects: list[str] = []

    def count(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if sql.lstrip().upper().startswith("SELECT"):
            selects.append(sql)

    engine = server.ctx.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        found = await asyncio.gather(*(orgs.get(chat) for chat in [7, *range(100, 140), 7]))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert found == [other.org.id, *[default.org.id] * 40, other.org.id]
    assert sum("telegram_chats" in sql for sql in selects) == 1, selects
    assert len(selects) == 2  # the chats, and the default organization (then kept for a while)
    assert orgs.known[7] == other.org.id and orgs.known[139] == default.org.id
    selects.clear()
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert await orgs.get(120) == default.org.id  # from memory
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert selects == []


async def test_on_sqlite_a_chat_that_chose_no_organization_is_answered_without_a_query(server: Server) -> None:
    """SQLite (one process, which writes every telegram_chats row itself): the chats that chose an organization are
    read at start, and a chat that did not talks to the default organization without a look-up. A chat that did is
    still looked up, so a row deleted since (an erasure) sends it back to the default. PostgreSQL: looked up."""
    default, other, orgs = await _demo_acme_and_chat_7(server)
    await orgs.load()
    sqlite = server.ctx.engine.dialect.name == "sqlite"
    assert orgs.chosen == ({7} if sqlite else None)
    assert await orgs.get(100) == default.org.id  # the default organization is read (then kept for a while)
    selects: list[str] = []

    def count(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if "telegram_chats" in sql:
            selects.append(sql)

    engine = server.ctx.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        one_by_one = [await orgs.get(chat) for chat in range(200, 210)]
        assert len(selects) == (0 if sqlite else 10), selects
        assert one_by_one == [default.org.id] * 10
        assert await orgs.get(7) == other.org.id  # chose one: looked up on both
        assert len(selects) == (1 if sqlite else 11)
    finally:
        event.remove(engine, "before_cursor_execute", count)

    async with transaction(server.ctx.factory) as session:  # /start org_acme in a new chat, after the start
        await set_chat_org(session=session, chat_id=300, org_id=other.org.id)
    await orgs.chose(300, other.org.id)
    async with transaction(server.ctx.factory) as session:  # an erasure deletes chat 7's row
        await session.execute(delete(TelegramChat).where(TelegramChat.chat_id == 7))
    orgs.apply({"type": "forgotten", "chats": [["telegram", "7"]]})  # what the erasure publishes after its commit
    assert [await orgs.get(300), await orgs.get(7), await orgs.get(301)] == [other.org.id, default.org.id, default.org.id]


def test_past_chosen_kept_chats_are_looked_up() -> None:
    orgs = ChatOrgs(SimpleNamespace())  # type: ignore[arg-type]
    orgs.chosen = set(range(CHOSEN_KEPT))
    orgs.apply({"type": "chose", "channel": "telegram", "external_id": "-5", "org_id": 2})
    assert orgs.chosen is None and orgs.known[-5] == 2


async def test_a_chat_that_chose_an_organization_on_one_process_talks_to_it_on_every_process(
    db_url: str, tmp_path: Path, fake: FakeTelegram,
) -> None:
    """Two processes behind one webhook, one database and one Redis. Process B answers chat 901 with the default
    organization and keeps that in memory; the chat then chooses acme on process A (`/start org_acme`). Its next
    message, on B, goes to acme: B's cache heard the choice. Without it B kept the default organization, and the
    customer's messages went to another organization's agents. An erasure of the chat's identity is forgotten by
    every process's cache too."""
    redis = {"url": REDIS_URL, "namespace": f"test-{uuid.uuid4().hex[:12]}"}
    a, b = [await start_server(tg_settings(db_url, tmp_path / "data", fake, mode="webhook", others={"redis": redis})) for _ in "ab"]
    try:
        demo = await make_org(a.ctx.factory, slug="demo")
        acme = await make_org(a.ctx.factory, slug="acme")
        headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-hook"}
        updates = iter(range(1, 100))

        async def deliver(server: Server, text: str) -> None:
            async with aiohttp.ClientSession() as http, http.post(
                f"{server.url}/telegram/webhook", json={"update_id": next(updates), **fake.message(901, text)}, headers=headers,
            ) as resp:
                assert resp.status == 200

        async def org_of(text: str) -> int:
            rows = await wait_rows(a, select(Message).where(Message.text == text))
            assert rows, text
            async with a.ctx.factory() as session:
                return int(await session.scalar(select(Message.org_id).where(Message.id == rows[0].id)) or 0)

        caches = [a.app[TG].chat_orgs, b.app[TG].chat_orgs]
        await deliver(b, "hello before choosing")
        assert await org_of("hello before choosing") == demo.org.id
        assert caches[1].known[901] == demo.org.id
        await deliver(a, "/start org_acme")
        await until(lambda: caches[1].known.get(901) == acme.org.id, 10)
        await deliver(b, "hello after choosing")
        assert await org_of("hello after choosing") == acme.org.id

        await chats_forgotten(b.ctx.hub, [("telegram", "901"), ("webchat", "x")])  # after an erasure's commit
        await until(lambda: all(901 not in cache.known for cache in caches), 10)
    finally:
        for server in (a, b):
            await server.stop()


async def test_on_postgresql_what_is_in_memory_is_read_again_every_known_seconds(server: Server) -> None:
    """A choice published while Redis was away never reaches the other processes: their caches are emptied every
    KNOWN_SECONDS on PostgreSQL, so such a chat is read again within that time. SQLite (one process) keeps its cache."""
    default, other, orgs = await _demo_acme_and_chat_7(server)
    await orgs.load()
    assert (orgs.expires is None) is (server.ctx.engine.dialect.name == "sqlite")
    assert await orgs.get(7) == other.org.id
    orgs.known[7] = default.org.id  # a process that missed chat 7's choice
    orgs.expires = time.monotonic() - 1  # ... KNOWN_SECONDS later
    assert await orgs.get(7) == other.org.id
    assert orgs.expires > time.monotonic() + KNOWN_SECONDS - 5


async def test_a_choice_that_comes_in_while_a_look_up_reads_is_not_overwritten_by_what_it_read(server: Server) -> None:
    """Chat 9 has chosen nothing when the look-up reads; its choice of acme (on another process) arrives during that
    read. The look-up's answer (the default) must neither win nor stay in memory."""
    default, other, orgs = await _demo_acme_and_chat_7(server)

    def choice_meanwhile(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if "telegram_chats" in sql:
            orgs.apply({"type": "chose", "channel": "telegram", "external_id": "9", "org_id": other.org.id})

    engine = server.ctx.engine.sync_engine
    event.listen(engine, "before_cursor_execute", choice_meanwhile)
    try:
        assert await orgs.get(9) == other.org.id
    finally:
        event.remove(engine, "before_cursor_execute", choice_meanwhile)
    assert orgs.known[9] == other.org.id
    assert await orgs.get(10) == default.org.id and orgs.known[10] == default.org.id  # untouched chats are kept as read
