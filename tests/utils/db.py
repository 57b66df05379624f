"""Test databases: a migrated SQLite template copied per test; PostgreSQL migrated once, truncated per test."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from bot.core.storage.base import Base
from bot.migrate import upgrade

PG_URL = os.environ.get("INCS_TEST_DATABASE_URL", "")
_template: dict[str, Path] = {}
_pg_ready: list[bool] = []


async def sqlite_db(tmp_path: Path, cache_dir: Path) -> str:
    if "sqlite" not in _template:
        path = cache_dir / "template.db"
        await asyncio.to_thread(upgrade, f"sqlite+aiosqlite:///{path}")
        _template["sqlite"] = path
    target = tmp_path / "incs.db"
    shutil.copy(_template["sqlite"], target)
    return f"sqlite+aiosqlite:///{target}"


async def postgres_db() -> str:
    if not _pg_ready:
        engine = create_async_engine(PG_URL)
        async with engine.begin() as conn:
            await conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            await conn.execute(sa.text("CREATE SCHEMA public"))
        await engine.dispose()
        await asyncio.to_thread(upgrade, PG_URL)
        _pg_ready.append(True)
    engine = create_async_engine(PG_URL)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await engine.dispose()
    return PG_URL
