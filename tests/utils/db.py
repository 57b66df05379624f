"""Test databases: a migrated SQLite template copied per test; PostgreSQL migrated once, emptied per test.

Under pytest-xdist every worker has its own PostgreSQL database: INCS_TEST_DATABASE_URL's name with the worker's
id appended (`test` → `test_gw0`), created on first use through a connection to the given database. (Redis needs
no such split: every test that keeps keys there uses a namespace of its own, and pub/sub ignores the index.)"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.core.storage.base import Base
from bot.migrate import upgrade

BASE_PG_URL = os.environ.get("INCS_TEST_DATABASE_URL", "")
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def _worker_url(url: str, worker: str) -> str:
    if not url or not worker:
        return url
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


PG_URL = _worker_url(BASE_PG_URL, WORKER)
_template: dict[str, Path] = {}
_pg_ready: list[bool] = []


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def sqlite_db(tmp_path: Path, cache_dir: Path) -> str:
    if "sqlite" not in _template:
        path = cache_dir / "template.db"
        await asyncio.to_thread(upgrade, f"sqlite+aiosqlite:///{path}")
        _template["sqlite"] = path
    target = tmp_path / "incs.db"
    shutil.copy(_template["sqlite"], target)
    return f"sqlite+aiosqlite:///{target}"


async def _create_worker_database() -> None:
    """The worker's own database, made through the given one."""
    await ensure_database(BASE_PG_URL, str(make_url(PG_URL).database))


async def ensure_database(url: str, name: str) -> None:
    """Database `name` on the server of `url`, created through `url` if it does not exist (CREATE DATABASE cannot
    run in a transaction)."""
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            except asyncpg.DuplicateDatabaseError:
                pass  # another run made it just now
    finally:
        await conn.close()


# Emptying every table in one round trip. TRUNCATE of all ~50 tables took 0.2-0.35 s a test (a new file per table
# and index); DELETE of tables that are mostly empty takes ~20 ms. session_replication_role = replica skips the
# triggers (foreign keys, the audit log's refusal to delete), as TRUNCATE does; the sequences that were used go back
# to their start, as RESTART IDENTITY did.
_RESET_SQL = """
DO $$
DECLARE r record;
BEGIN
  SET LOCAL session_replication_role = replica;
  {deletes}
  FOR r IN SELECT schemaname, sequencename, start_value FROM pg_sequences
           WHERE schemaname = current_schema() AND last_value IS NOT NULL LOOP
    PERFORM setval(format('%I.%I', r.schemaname, r.sequencename), r.start_value, false);
  END LOOP;
END $$;
"""
_can_replicate: list[bool] = []


async def _reset_postgres() -> None:
    tables = [t.name for t in Base.metadata.sorted_tables]
    conn = await asyncpg.connect(_asyncpg_dsn(PG_URL))
    try:
        if not _can_replicate or _can_replicate[0]:
            try:
                await conn.execute(_RESET_SQL.format(deletes="\n  ".join(f'DELETE FROM "{t}";' for t in reversed(tables))))
                _can_replicate[:] = [True]
                return
            except asyncpg.InsufficientPrivilegeError:  # the SET needs a superuser: one TRUNCATE, as before
                _can_replicate[:] = [False]
        await conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


async def postgres_db() -> str:
    if not _pg_ready:
        if PG_URL != BASE_PG_URL:
            await _create_worker_database()
        engine = create_async_engine(PG_URL)
        async with engine.begin() as conn:
            await conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            await conn.execute(sa.text("CREATE SCHEMA public"))
        await engine.dispose()
        await asyncio.to_thread(upgrade, PG_URL)
        _pg_ready.append(True)
    await _reset_postgres()
    return PG_URL


@contextmanager
def transactions_sent(monkeypatch: pytest.MonkeyPatch, by: Callable[[str], bool]) -> Iterator[list[str]]:
    """The BEGINs, COMMITs and ROLLBACKs sent to PostgreSQL (asyncpg's transactions; SQLite: none) from the asyncio
    tasks whose names `by` accepts, in order."""
    sent: list[str] = []

    def recording(verb: str, method: Any) -> Any:
        async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            task = asyncio.current_task()
            if task is not None and by(task.get_name()):
                sent.append(verb)
            return await method(self, *args, **kwargs)
        return wrapper

    for verb, name in (("BEGIN", "start"), ("COMMIT", "commit"), ("ROLLBACK", "rollback")):
        monkeypatch.setattr(asyncpg.transaction.Transaction, name, recording(verb, getattr(asyncpg.transaction.Transaction, name)))
    yield sent
