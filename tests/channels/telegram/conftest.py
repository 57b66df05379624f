"""Telegram test fixtures: the fake Bot API and an app pointed at it (polling or webhook)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.core.conversations.models import Message
from tests.conftest import Server, make_settings, start_server
from tests.fakes.telegram_api import TOKEN, FakeTelegram
from tests.utils.factories import OrgWithAdmin, make_org

FAST_OUTBOX = {"poll_seconds": 0.05, "backoff_base_seconds": 0.05, "backoff_max_seconds": 0.5, "lease_seconds": 1.0}


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    api = await FakeTelegram().start()
    yield api
    await api.stop()


def tg_settings(db_url: str, data_dir: Path, fake: FakeTelegram, *, others: dict[str, Any] | None = None, **telegram: Any) -> Any:
    """Settings with Telegram on (`telegram` overrides its keys) and `others` for the other sections."""
    config: dict[str, Any] = {
        "token": TOKEN,
        "api_base": fake.url,
        "mode": "polling",
        "poll_timeout_seconds": 1,
        "request_timeout_seconds": 2,
        "rate_per_chat": 50,
        "chat_burst": 5,
        "rate_global": 500,
        "group_per_minute": 3000,
        "webhook_secret": "s3cret-hook",
    }
    config.update(telegram)
    return make_settings(db_url, data_dir, channels={"telegram": config}, outbox=FAST_OUTBOX, **(others or {}))


@pytest.fixture
async def tg_start(db_url: str, tmp_path: Path, fake: FakeTelegram) -> AsyncIterator[Callable[..., Any]]:
    """Starts app servers on one database and data dir (a second one is a restart); stops the ones still running."""
    servers: list[Server] = []

    async def start(**telegram: Any) -> Server:
        server = await start_server(tg_settings(db_url, tmp_path / "data", fake, **telegram))
        servers.append(server)
        return server

    yield start
    for server in servers:
        if server.runner.server is not None:
            await server.stop()


@pytest.fixture
async def tg(tg_start: Callable[..., Any]) -> Server:
    server: Server = await tg_start()
    return server


@pytest.fixture
async def demo_tg(tg: Server) -> OrgWithAdmin:
    return await make_org(tg.ctx.factory, slug="demo")


async def wait_rows(server: Server, query: Any, count: int = 1, timeout: float = 10.0) -> list[Any]:  # noqa: ASYNC109 - a polling helper's deadline
    """Polls the database until the query returns at least `count` rows."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with server.ctx.factory() as session:
            rows = list((await session.scalars(query)).all())
        if len(rows) >= count or asyncio.get_running_loop().time() > deadline:
            return rows
        await asyncio.sleep(0.03)


def inbound(chat_id: int) -> Any:
    from sqlalchemy import select

    from bot.core.conversations.models import ChannelIdentity

    ids = select(ChannelIdentity.id).where(ChannelIdentity.channel == "telegram", ChannelIdentity.external_id == str(chat_id))
    return select(Message).where(Message.identity_id.in_(ids), Message.direction == "in").order_by(Message.id)
