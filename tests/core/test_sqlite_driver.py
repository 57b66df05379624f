"""The SQLite driver's trips to the database thread: commit and rollback make none when no transaction is open
(the pool's reset after every commit, read-only transactions), and still end a transaction that is open."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import text

from bot.core.storage.db import SessionFactory, create_engine, session_factory, transaction


@pytest.fixture
async def factory(tmp_path: Path) -> AsyncIterator[SessionFactory]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'trips.db'}")
    made = session_factory(engine)
    async with transaction(made) as session:
        await session.execute(text("CREATE TABLE t (a INTEGER)"))
    yield made
    await engine.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every function sent to a connection's database thread, by name."""
    seen: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: object, *args: object, **kwargs: object) -> object:
        seen.append(getattr(fn, "__name__", "?"))
        return await original(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return seen


async def count(factory: SessionFactory) -> int:
    async with factory() as session:
        return int(await session.scalar(text("SELECT count(*) FROM t")) or 0)


async def test_a_write_transaction_costs_its_statement_and_its_commit_only(factory: SessionFactory, trips: list[str]) -> None:
    async with transaction(factory) as session:
        await session.execute(text("INSERT INTO t VALUES (1)"))
    assert trips == ["_run", "commit"]  # no rollback when the pool takes the connection back
    assert await count(factory) == 1


async def test_a_read_only_transaction_makes_no_commit_trip(factory: SessionFactory, trips: list[str]) -> None:
    async with transaction(factory) as session:
        await session.execute(text("SELECT count(*) FROM t"))
    assert trips == ["_run"]


async def test_an_open_transaction_is_still_rolled_back(factory: SessionFactory, trips: list[str]) -> None:
    with pytest.raises(RuntimeError):
        async with transaction(factory) as session:
            await session.execute(text("INSERT INTO t VALUES (2)"))
            raise RuntimeError("the unit of work fails")
    assert "rollback" in trips
    assert await count(factory) == 0
    async with factory() as session:  # a session closed without commit rolls back too
        await session.execute(text("INSERT INTO t VALUES (3)"))
    assert await count(factory) == 0
