"""Alembic environment: async engines (aiosqlite, asyncpg), metadata from every feature's models (bot/all_models.py)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

# Importing feature models registers their tables on Base.metadata.
import bot.all_models  # noqa: F401,E402
from bot.core.search.schema import include_name
from bot.core.storage.base import Base
from bot.core.storage.db import create_engine

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        # Batch mode rebuilds a table (create copy, drop, rename). With foreign keys on, dropping a referenced
        # table would cascade-delete or refuse its referencing rows; off before the transaction starts, as
        # Alembic's batch documentation advises. The engine is disposed after the run.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Several processes started at once on one database: one migrates, the others wait here, then read the
            # version it committed and have nothing left to do (PostgreSQL's DDL is transactional; SQLite has one
            # process).
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7330, 1)")
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
