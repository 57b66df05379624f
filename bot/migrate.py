"""Alembic migrations, run programmatically (`incs db upgrade`, and `incs run` at start).

`upgrade_if_behind` first compares the database's alembic_version with the heads named in the migration files
(one query): a database already at head (every start but the first after an upgrade) is left alone without
importing Alembic and Mako, which would otherwise stay in the server's memory (about 13 MB). Anything it cannot
read for certain falls through to Alembic.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

from bot.paths import MIGRATIONS

if TYPE_CHECKING:
    from alembic.config import Config

_REVISION = re.compile(r"^revision\b[^=]*=\s*['\"](\w+)['\"]", re.M)
_DOWN = re.compile(r"^down_revision\b[^=]*=(.*)$", re.M)


def file_heads() -> set[str]:
    """The head revisions as the migration files name them (revisions no other one revises)."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(source), _DOWN.search(source)
        if revision is None or down is None:
            return set()  # not a shape read here: Alembic decides
        revisions.add(revision.group(1))
        revised.update(re.findall(r"['\"](\w+)['\"]", down.group(1)))
    return revisions - revised


async def _db_versions(url: str) -> set[str]:
    from sqlalchemy import text

    from bot.core.storage.db import create_engine

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return {str(v) for (v,) in await conn.execute(text("SELECT version_num FROM alembic_version"))}
    finally:
        await engine.dispose()


def upgrade_if_behind(url: str, secret_key: str = "") -> None:
    try:
        heads = file_heads()
        current = asyncio.run(_db_versions(url)) if heads else set()
    except Exception:  # noqa: BLE001 - no table yet, an unreadable file...: Alembic decides
        current = set()
    if not heads or current != heads:
        upgrade(url, secret_key=secret_key)


def alembic_config(url: str, secret_key: str = "") -> Config:
    """`secret_key` lets a migration seal secrets at rest (0820 seals TOTP secrets); without it they are
    sealed by the application when first read."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    config.attributes["secret_key"] = secret_key
    return config


def upgrade(url: str, revision: str = "heads", secret_key: str = "") -> None:
    from alembic import command

    command.upgrade(alembic_config(url, secret_key), revision)


async def upgrade_async(url: str, revision: str = "heads", secret_key: str = "") -> None:
    # Alembic's env.py runs its own event loop for the async engine; keep it off ours.
    await asyncio.to_thread(upgrade, url, revision, secret_key)
