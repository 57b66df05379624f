"""Migrations and models agree: a migrated database has exactly the tables and columns the models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

import bot.all_models  # noqa: F401
from bot.core.search.schema import include_name
from bot.core.storage.base import Base


async def test_migrated_schema_matches_models(db_url: str) -> None:
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            opts = {"compare_type": False, "include_name": include_name}  # search indexes are not models
            diffs = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync, opts=opts), Base.metadata))
    finally:
        await engine.dispose()
    assert diffs == [], f"models and migrations differ; write a migration: {diffs}"


def test_migrations_have_one_head() -> None:
    from alembic.script import ScriptDirectory

    from bot.migrate import alembic_config

    heads = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://")).get_heads()
    assert len(heads) == 1, f"merge the migration branches: heads {heads}"
