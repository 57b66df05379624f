"""Alembic migrations, run programmatically (`incs db upgrade`)."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.config import Config

from bot.paths import MIGRATIONS


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "heads") -> None:
    # Alembic's env.py runs its own event loop for the async engine; keep it off ours.
    await asyncio.to_thread(upgrade, url, revision)
