"""Alembic environment: async engines (aiosqlite, asyncpg), metadata from bot.core.models."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

# Importing feature models registers their tables on Base.metadata.
import bot.core.all_models  # noqa: F401,E402
from bot.core.db import create_engine
from bot.core.models import Base
from bot.core.search.schema import include_name

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_online())
