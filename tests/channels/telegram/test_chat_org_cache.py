"""The chat -> organization cache of the Telegram channel is bounded (the oldest chats are forgotten first), and
chats not in it are looked up together: one query for all the chats asked for at once; on SQLite a chat that chose no
organization needs no query at all."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from sqlalchemy import delete, event

from bot.channels.telegram.chat_orgs import CHAT_ORGS_KEPT, CHOSEN_KEPT, ChatOrgs
from bot.channels.telegram.models import TelegramChat
from bot.channels.telegram.store import set_chat_org
from bot.core.storage.db import transaction
from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin, make_org


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
    orgs.chose(300, other.org.id)
    async with transaction(server.ctx.factory) as session:  # an erasure deletes chat 7's row
        await session.execute(delete(TelegramChat).where(TelegramChat.chat_id == 7))
    orgs.known.clear()
    assert [await orgs.get(300), await orgs.get(7), await orgs.get(301)] == [other.org.id, default.org.id, default.org.id]


def test_past_chosen_kept_chats_are_looked_up() -> None:
    orgs = ChatOrgs(SimpleNamespace())  # type: ignore[arg-type]
    orgs.chosen = set(range(CHOSEN_KEPT))
    orgs.chose(-5, 2)
    assert orgs.chosen is None and orgs.known[-5] == 2
