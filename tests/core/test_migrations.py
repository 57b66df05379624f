"""Migrations and models agree: a migrated database has exactly the tables and columns the models declare."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

import bot.all_models  # noqa: F401
from bot.core.models import Base
from bot.core.search.schema import include_name


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


def test_the_files_name_the_same_heads_as_alembic() -> None:
    """`incs run` skips Alembic when the database is at these heads (bot/migrate.py upgrade_if_behind)."""
    from alembic.script import ScriptDirectory

    from bot.migrate import alembic_config, file_heads

    assert file_heads() == set(ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://")).get_heads())


def test_a_start_on_a_database_at_head_leaves_alembic_unimported(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'incs.db'}"
    probe = (
        "import sys; from bot.migrate import upgrade_if_behind; upgrade_if_behind(sys.argv[1]); "
        "print('alembic' in sys.modules)"
    )
    first = subprocess.run([sys.executable, "-c", probe, url], capture_output=True, text=True, check=True, timeout=120)
    assert first.stdout.strip() == "True"  # a new database: migrated
    again = subprocess.run([sys.executable, "-c", probe, url], capture_output=True, text=True, check=True, timeout=120)
    assert again.stdout.strip() == "False"  # at head: nothing to do, nothing loaded
