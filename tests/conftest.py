"""Whole-app fixtures on a temporary SQLite database, and on PostgreSQL when INCS_TEST_DATABASE_URL is set."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from argon2.profiles import CHEAPEST

from bot.app import create_app
from bot.config import Settings
from bot.context import AppContext
from bot.core.common import clock
from bot.core.orgs import agents
from bot.server import listening_url, start_site
from bot.web import CTX
from tests.utils.db import PG_URL, postgres_db, sqlite_db
from tests.utils.factories import OrgWithAdmin, make_org

BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]
# argon2 at its cheapest in the suite (still argon2id, hashed and checked for real): at the library's default cost
# every sign-in and every admin made cost ~0.18 s of CPU. tests/workbench/test_passwords_cost.py checks the product's.
agents.use_parameters(CHEAPEST)
SECRET = "test-secret-key-0123456789abcdefghijklmnop"


@pytest.fixture(scope="session")
def template_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("template")


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path, template_dir: Path) -> str:
    """Parametrized: every test that uses the database runs on SQLite and (in CI) PostgreSQL."""
    if request.param == "sqlite":
        return await sqlite_db(tmp_path, template_dir)
    return await postgres_db()


@pytest.fixture
async def sqlite_url(tmp_path: Path, template_dir: Path) -> str:
    return await sqlite_db(tmp_path, template_dir)


def make_settings(db_url: str, data_dir: Path, **overrides: object) -> Settings:
    base: dict[str, object] = {
        "data_dir": data_dir,
        "secret_key": SECRET,
        "database": {"url": db_url},
        "outbox": {"poll_seconds": 0.05, "backoff_base_seconds": 0.05, "backoff_max_seconds": 0.5, "shutdown_grace_seconds": 0.5},
        "logging": {"level": "INFO"},
    }
    base.update(overrides)
    return Settings.model_validate(base)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(db_url, tmp_path / "data")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A real server on an ephemeral loopback port."""

    app: web.Application
    runner: web.AppRunner
    url: str

    @property
    def ctx(self) -> AppContext:
        return self.app[CTX]

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_server(settings: Settings) -> Server:
    app = create_app(settings)
    # As `incs run` serves; port 0 is the kernel's pick at bind time (a port picked first and bound later can be taken
    # in between, by another pytest worker or any outgoing connection).
    runner, site = await start_site(app, settings.server, host="127.0.0.1", port=0)
    return Server(app=app, runner=runner, url=listening_url(site))


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[Server]:
    srv = await start_server(settings)
    yield srv
    await srv.stop()


@pytest.fixture
async def demo(server: Server) -> OrgWithAdmin:
    return await make_org(server.ctx.factory, slug="demo")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


@pytest.fixture(autouse=True)
def _restore_clock() -> object:
    yield
    clock.set_clock(None)


@pytest.fixture(autouse=True)
def _quiet_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
