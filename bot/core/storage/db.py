"""Engine and session factory: SQLite (aiosqlite, WAL) by default, PostgreSQL (asyncpg) alike."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from sqlalchemy import Engine, event, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from bot.core.storage import sqlite_driver
from bot.core.storage.files import secure_sqlite

SessionFactory = async_sessionmaker[AsyncSession]
log = logging.getLogger(__name__)


class unindexed(FunctionElement[Any]):  # noqa: N801 - used like a SQL function
    """A column that SQLite's planner must not pick an index for (SQLite's documented unary `+`; elsewhere the
    column as is). For a statement that finds its rows by primary key (`id IN (...)`) and also tests an indexed
    column: without statistics SQLite takes the index on that column, and reads every row with its value (the
    outbox's whole backlog for `state = 'pending'`) instead of probing the ids."""

    inherit_cache = True

    def __init__(self, column: Any) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(unindexed)
def _unindexed(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return f"+{compiler.process(element.clauses, **kw)}"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(
    url: str,
    *,
    echo: bool = False,
    pool_size: int = 10,
    synchronous_commit: str = "on",
    pool_pre_ping: bool = False,
    statement_cache_size: int = 500,
    sqlite_synchronous: Literal["full", "normal"] = "full",
) -> AsyncEngine:
    """PostgreSQL options (README "PostgreSQL tuning"): `synchronous_commit` is set on every connection;
    `pool_pre_ping` costs a round trip per checkout (the ingest writer checks out once per batch); the pool is
    last-in-first-out;
    SQLite: `sqlite_synchronous` is its `PRAGMA synchronous` ("full": the WAL synced at every commit);
    `statement_cache_size` is asyncpg's prepared statements per connection, large enough for the batch
    statements' shapes (a multi-row INSERT has one per row count) so they are prepared once, not per batch."""
    kwargs: dict[str, Any] = {"echo": echo}
    if is_sqlite(url):
        secure_sqlite(url)  # 0600 before SQLite opens it, so its WAL and SHM are created 0600 too
        kwargs["connect_args"] = {"timeout": 30, "async_creator_fn": sqlite_driver.connect}
    else:
        kwargs["pool_size"] = pool_size
        kwargs["pool_pre_ping"] = pool_pre_ping
        # The connection returned last is taken first: the busy paths keep to a few warm connections (their prepared
        # statements, PostgreSQL's caches) and the rest of the pool idles, where first-in-first-out rotated every
        # statement through every connection (each preparing it again).
        kwargs["pool_use_lifo"] = True
        kwargs["connect_args"] = {"server_settings": {"synchronous_commit": synchronous_commit}}
        parsed = make_url(url)
        if parsed.get_backend_name() == "postgresql" and "prepared_statement_cache_size" not in parsed.query:
            url = parsed.update_query_dict({"prepared_statement_cache_size": str(statement_cache_size)}).render_as_string(
                hide_password=False
            )
    engine = create_async_engine(url, **kwargs)
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", functools.partial(_sqlite_pragmas, synchronous=sqlite_synchronous))
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, *, synchronous: Literal["full", "normal"]) -> None:
    """WAL journal; `synchronous` full syncs the WAL at every commit, so what was committed (and acknowledged)
    survives a power loss or an OS crash, as PostgreSQL's `synchronous_commit = on` does; normal syncs it only at
    checkpoints (a commit survives a crash of the process, not of the machine)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Checkpoints run in the background (see checkpoint_loop); this is only the fallback bound on the WAL.
    cursor.execute("PRAGMA wal_autocheckpoint=20000")
    cursor.close()


def session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)


class WriteTurns:
    """SQLite's writer turns, first come first served, except that an urgent turn (the ingest writer's: callers
    wait on it for their acknowledgement) goes ahead of every waiting ordinary one (delivery bookkeeping, sweeps) —
    unless that one has waited ORDINARY_MAX_WAIT already: a burst of inbound messages (one urgent turn after
    another) must not stop delivery, whose claims and outcomes are short turns."""

    ORDINARY_MAX_WAIT = 0.1  # seconds

    def __init__(self) -> None:
        self.busy = False
        self.urgent: deque[asyncio.Future[None]] = deque()
        self.ordinary: deque[asyncio.Future[None]] = deque()
        self.since: dict[asyncio.Future[None], float] = {}  # when each ordinary waiter began to wait

    async def take(self, urgent: bool) -> None:
        if not self.busy:
            self.busy = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self.urgent if urgent else self.ordinary
        queue.append(waiter)
        if not urgent:
            self.since[waiter] = time.monotonic()
        try:
            await waiter  # handed over by release(): busy stays True
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the turn was handed over just as the waiter was cancelled: pass it on
            elif waiter in queue:  # release() may have passed over it already
                queue.remove(waiter)
            raise
        finally:
            self.since.pop(waiter, None)

    def release(self) -> None:
        stamp = time.monotonic()
        starved = bool(self.ordinary) and stamp - self.since.get(self.ordinary[0], stamp) >= self.ORDINARY_MAX_WAIT
        for queue in (self.ordinary, self.urgent) if starved else (self.urgent, self.ordinary):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self.busy = False


_write_turns: weakref.WeakKeyDictionary[Engine, WriteTurns] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def write_turn(factory: SessionFactory, *, urgent: bool = False) -> AsyncIterator[None]:
    """SQLite has one writer at a time. Taking turns here, in the event loop, replaces SQLite's busy
    handler — which sleeps up to 100 ms between tries — with a queue that hands over at once; `urgent`
    turns are served before ordinary ones. PostgreSQL needs no turns. Not re-entrant: never open a
    transaction inside another."""
    bind = factory.kw.get("bind")
    if not isinstance(bind, AsyncEngine) or not is_sqlite(str(bind.url)):
        yield
        return
    turns = _write_turns.setdefault(bind.sync_engine, WriteTurns())
    await turns.take(urgent)
    try:
        yield
    finally:
        turns.release()


@asynccontextmanager
async def transaction(factory: SessionFactory, *, inline: bool = False) -> AsyncIterator[AsyncSession]:
    """One unit of work: commits on success, rolls back on any error. `inline`: a short one of bounded statements
    on a hot path, run on the event loop's thread on SQLite (`inline_transaction`)."""
    async with write_turn(factory), factory() as session, (inline_transaction(session) if inline else session.begin()):
        yield session


@asynccontextmanager
async def inline_transaction(session: AsyncSession) -> AsyncIterator[None]:
    """`session.begin()`; on SQLite its statements, commit included, run on the event loop's thread instead of a
    trip to the database thread each (storage/sqlite_driver.py). For a short transaction of bounded statements that
    holds the write turn (the ingest writer's batch): anything long would hold up the whole event loop."""
    driver: Any = None
    try:
        async with session.begin():
            if session.get_bind().dialect.name == "sqlite":
                driver = (await (await session.connection()).get_raw_connection()).driver_connection
                if isinstance(driver, sqlite_driver.OneTripConnection):
                    driver.inline = True
            yield
    finally:
        if isinstance(driver, sqlite_driver.OneTripConnection):
            driver.inline = False


@asynccontextmanager
async def statements_alone(session: AsyncSession, *, when: bool = True) -> AsyncIterator[bool]:
    """PostgreSQL: while the session's connection has begun no transaction on the server yet, each statement run
    in this block is a transaction of its own (PostgreSQL's implicit one): no BEGIN round trip before it, and it
    is committed (its WAL flushed, with `synchronous_commit = on`) before its result comes back, so no COMMIT
    round trip after it either. Yields True then. Use it for a read that needs no transaction around it, or for
    a unit of work that is one statement. Once a statement outside the block has begun the transaction, on
    SQLite, or with `when` false, it changes nothing and yields False: statements join the session's transaction
    as usual. The session's own commit later sends no COMMIT for a transaction that never began."""
    conn = await session.connection()
    if not when or conn.dialect.name != "postgresql":
        yield False
        return
    raw = await conn.get_raw_connection()
    adapted: Any = raw.dbapi_connection  # SQLAlchemy's asyncpg adapter: it sends BEGIN before a statement unless autocommit
    driver: Any = raw.driver_connection  # asyncpg's connection: whether the server is in a transaction
    if adapted is None or driver is None or adapted.autocommit or driver.is_in_transaction():
        yield False
        return
    adapted.autocommit = True
    try:
        yield True
    finally:
        adapted.autocommit = False  # back to the engine's isolation level: the next statement begins a transaction


@asynccontextmanager
async def read_session(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A session for reads only: on PostgreSQL each statement is a transaction of its own (`statements_alone`), so
    a page's look-up costs its statement, not a BEGIN and a ROLLBACK around it as well. Under READ COMMITTED each
    statement reads its own snapshot either way. Nothing written in it is rolled back at its end: only reads."""
    async with factory() as session, statements_alone(session):
        yield session


async def checkpoint(factory: SessionFactory) -> None:
    """SQLite: one PASSIVE checkpoint now, from its own connection (no write turn: it never blocks a writer)."""
    bind = factory.kw.get("bind")
    if isinstance(bind, AsyncEngine) and is_sqlite(str(bind.url)):
        await _checkpoint(bind)


async def _checkpoint(engine: AsyncEngine) -> None:
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
    except Exception:  # noqa: BLE001 - a busy database is checkpointed next time
        log.debug("checkpoint skipped", exc_info=True)


async def checkpoint_loop(engine: AsyncEngine, every_seconds: float = 1.0) -> None:
    """SQLite: move WAL pages into the database file from its own connection (its own thread), so the
    ingest writer's commits never pay for a checkpoint. PASSIVE never blocks readers or writers."""
    while True:
        await asyncio.sleep(every_seconds)
        await _checkpoint(engine)


async def ping(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - health check reports any failure as down
        return False
