"""The SQLite driver's trips to the database thread: commit and rollback make none when no transaction is open
(the pool's reset after every commit, read-only transactions), and still end a transaction that is open. An inline
transaction (the hot paths': ingest batches, outbox claims and outcomes) makes none at all, and a statement of
it that finds the database locked waits on the database thread, never on the event loop's. A result
for an event loop that has closed is dropped, and the database thread goes on."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import aiosqlite
import pytest
from sqlalchemy import text

from bot.config import ConfigError, load_settings
from bot.core.storage.db import SessionFactory, create_engine, session_factory, transaction
from tests.conftest import make_settings, start_server
from tests.utils.waits import until


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


@pytest.mark.parametrize("synchronous", ["full", "normal"])
async def test_an_inline_transaction_sends_the_database_thread_only_a_commit_that_syncs(
    tmp_path: Path, trips: list[str], synchronous: Literal["full", "normal"],
) -> None:
    """Its statements run on the event loop's thread; a commit that waits for the disk (`synchronous` FULL, the
    default: the WAL's fsync) goes to the database thread, so the event loop does not wait on it."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}", sqlite_synchronous=synchronous)
    factory = session_factory(engine)
    try:
        async with transaction(factory) as session:
            await session.execute(text("CREATE TABLE t (a INTEGER)"))
            assert await session.scalar(text("PRAGMA synchronous")) == {"full": 2, "normal": 1}[synchronous]
        trips.clear()
        async with transaction(factory, inline=True) as session:
            await session.execute(text("INSERT INTO t VALUES (4)"))
            assert await session.scalar(text("SELECT count(*) FROM t")) == 1
        with pytest.raises(RuntimeError):
            async with transaction(factory, inline=True) as session:
                await session.execute(text("INSERT INTO t VALUES (5)"))
                raise RuntimeError("the unit of work fails")
        assert trips == (["commit"] if synchronous == "full" else [])
        assert await count(factory) == 1  # committed, and rolled back, all the same
    finally:
        await engine.dispose()


async def test_an_inline_statement_that_finds_the_database_locked_waits_on_the_database_thread(
    factory: SessionFactory, trips: list[str], tmp_path: Path,
) -> None:
    """Another connection (another process) holds the write lock. Waiting for it on the event loop's thread (SQLite's
    busy handler) would stop the whole process, this test's release of the lock included, for the busy timeout."""
    held, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        other = sqlite3.connect(tmp_path / "trips.db")
        other.execute("BEGIN IMMEDIATE")
        held.set()
        release.wait(10)
        other.execute("INSERT INTO t VALUES (6)")
        other.commit()
        other.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    await asyncio.to_thread(held.wait, 5)

    async def write() -> None:
        async with transaction(factory, inline=True) as session:
            await session.execute(text("INSERT INTO t VALUES (7)"))

    task = asyncio.create_task(write())
    await until(lambda: "_run" in trips)  # the event loop runs on: the insert waits on the database thread
    assert not task.done()
    release.set()
    await task
    await asyncio.to_thread(holder.join)
    assert await count(factory) == 2
    async with factory() as session:  # the connection's busy timeout is back for its next statements
        assert await session.scalar(text("PRAGMA busy_timeout")) == 30000


async def test_the_server_syncs_each_commit_unless_told_otherwise(tmp_path: Path) -> None:
    """`database.sqlite_synchronous`: "full" by default (what is acknowledged survives a power loss), "normal" when
    configured; a bad value names its key."""
    with pytest.raises(ConfigError, match=r"^database\.sqlite_synchronous:"):
        load_settings(None, {"INCS_DATA_DIR": str(tmp_path), "INCS_CONFIG": str(tmp_path / "none.yaml"),
                             "INCS_DATABASE__SQLITE_SYNCHRONOUS": "sometimes"})
    for name, configured, expected in (("a", {}, 2), ("b", {"sqlite_synchronous": "normal"}, 1)):
        url = f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}"
        server = await start_server(make_settings(url, tmp_path / name, database={"url": url, **configured}))
        try:
            async with server.ctx.engine.connect() as conn:
                assert await conn.scalar(text("PRAGMA synchronous")) == expected
        finally:
            await server.stop()


def test_a_result_for_a_closed_event_loop_is_dropped_and_the_database_thread_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A statement still running when its task is cancelled and its event loop closes (a server stopped mid-write),
    then the connection stopped by the garbage collector with no loop running: aiosqlite's thread raised "Event loop
    is closed" there, and pytest failed whichever test ran next (CI of 2026-12-02)."""
    from bot.core.storage.sqlite_driver import OneTripConnection, connect

    raised: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: raised.append(args.exc_value))
    started, gate = threading.Event(), threading.Event()

    def slow(conn: sqlite3.Connection) -> int:
        started.set()
        gate.wait(30)
        return int(conn.execute("SELECT 1").fetchone()[0])

    loop = asyncio.new_event_loop()
    try:
        connection = loop.run_until_complete(connect(str(tmp_path / "closed.db")))
        assert isinstance(connection, OneTripConnection)
        running = loop.create_task(connection.call(slow, connection._conn))
        loop.run_until_complete(loop.run_in_executor(None, started.wait, 30))
        running.cancel()
        loop.run_until_complete(asyncio.gather(running, return_exceptions=True))
    finally:
        loop.close()
    gate.set()  # the statement ends now, for a loop that is closed
    assert connection.stop() is None  # no event loop runs here: nothing to await
    connection._thread.join(30)
    assert not connection._thread.is_alive() and connection._connection is None  # it went on to the stop
    assert raised == []
