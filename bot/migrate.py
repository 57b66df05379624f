"""Alembic migrations, run programmatically (`incs db upgrade`)."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.config import Config

from bot.paths import MIGRATIONS


def alembic_config(url: str, secret_key: str = "") -> Config:
    """`secret_key` lets a migration seal secrets at rest (0820 seals TOTP secrets); without it they are
    sealed by the application when first read."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    config.attributes["secret_key"] = secret_key
    return config


def upgrade(url: str, revision: str = "heads", secret_key: str = "") -> None:
    command.upgrade(alembic_config(url, secret_key), revision)


async def upgrade_async(url: str, revision: str = "heads", secret_key: str = "") -> None:
    # Alembic's env.py runs its own event loop for the async engine; keep it off ours.
    await asyncio.to_thread(upgrade, url, revision, secret_key)
