"""Headless Debian Chromium driven by Playwright's Python package (no browser download)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright, expect

from bot.config import Settings
from tests.conftest import Server, make_settings, start_server
from tests.utils.factories import OrgWithAdmin, make_org

# Assertions wait for their condition; on a machine busy with other work a page can take longer than Playwright's
# default 5 s to get there, so they wait up to 20 s (what they assert is unchanged).
expect.set_options(timeout=20_000)

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


_open: list[Browser] = []  # this test's browsers, while it runs


@contextlib.asynccontextmanager
async def chromium(*extra_args: str) -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError("chromium is missing: `make test` installs it (apt-get install chromium)")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, *extra_args], headless=True)
        _open.append(b)
        try:
            yield b
        finally:
            _open.remove(b)
            await b.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


async def close_pages() -> None:
    """The test's pages leave before its server stops. A workbench page whose live socket is still being opened
    when the server shuts down (signed-in check before the socket is tracked) is not closed by the shutdown, which
    then waits aiohttp's 60 s shutdown timeout for it: seen as a 47 s teardown now and then."""
    for b in _open:
        for context in b.contexts:
            await context.close()


@pytest.fixture
async def web_server(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Server]:
    settings: Settings = make_settings(sqlite_url, tmp_path / "data")
    srv = await start_server(settings)
    yield srv
    await close_pages()
    await srv.stop()


@pytest.fixture
async def web_demo(web_server: Server) -> OrgWithAdmin:
    return await make_org(web_server.ctx.factory, slug="demo")
