"""An aiosqlite connection whose cursors cost one trip to the database thread per statement.

aiosqlite runs sqlite3 in a worker thread and SQLAlchemy's adapter makes four trips there for every
statement (open the cursor, execute, fetch, close), each a thread hand-off and an event-loop wake-up.
SQLite answers an indexed statement in microseconds, so those trips were most of the ingest path's time.
Here a statement executes, fetches its rows and closes its cursor in one trip; the adapter then reads
the rows from memory, and a commit or rollback with no transaction open makes no trip at all.
Behaviour is otherwise aiosqlite's (same thread, same sqlite3 connection).

A connection can also run its statements on the event loop's own thread (`inline`, set for a transaction by
storage.db.inline_transaction): no trip at all. The trip to the database thread and back (a queue, a wake-up of the
event loop, and the two threads taking turns with the GIL) cost more CPU than a small indexed statement, about a
third of the ingest writer's CPU. It is for short transactions that hold the write turn (no writer of this process
waits for them); SQLite's busy handler is off for them (it would sleep on the event loop's thread, where whatever
holds the lock, if it is in this process, could never finish): a statement that finds the database locked goes to
the database thread after all, and waits there as any other. Their commit goes to the database thread too when it
syncs the WAL (`PRAGMA synchronous = FULL`, the default): the event loop does not wait on the disk.

Every connection also gets the SQL function the full-text search triggers call for CJK text.

The database thread hands each result back to the event loop that asked for it. When that loop has closed meanwhile
(a statement still running when its task was cancelled and the loop shut down, or a connection the garbage collector
stops, whose stop aiosqlite tied to `asyncio.get_event_loop()`, possibly the loop just closed), nobody waits for the
result: it is dropped. aiosqlite's own thread raised there
("Event loop is closed") and died, leaving what was queued behind it undone.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import aiosqlite
from aiosqlite.core import _STOP_RUNNING_SENTINEL, set_exception, set_result

from bot.core.common import cjk

T = TypeVar("T")


class _Done:
    __slots__ = ("description", "lastrowid", "rowcount", "rows")

    def __init__(self, cursor: sqlite3.Cursor, rows: list[Any]) -> None:
        self.description = cursor.description
        self.rowcount = cursor.rowcount
        self.lastrowid = cursor.lastrowid
        self.rows = rows


def _run(conn: sqlite3.Connection, sql: str, parameters: Any, many: bool) -> _Done:
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        elif parameters is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return _Done(cursor, rows)
    finally:
        cursor.close()


class OneTripCursor:
    """The subset of aiosqlite.Cursor that SQLAlchemy's adapter uses; rows are fetched with the execute."""

    arraysize = 1

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self._done: _Done | None = None
        self._rows: list[Any] = []

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def _do(self, sql: str, parameters: Any, many: bool) -> OneTripCursor:
        connection = self._connection
        self._done = await connection.call(_run, connection._conn, sql, parameters, many)
        self._rows = list(self._done.rows)
        return self

    async def execute(self, sql: str, parameters: Any = None) -> OneTripCursor:
        return await self._do(sql, parameters, False)

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> OneTripCursor:
        return await self._do(sql, list(parameters), True)

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        count = size or self.arraysize
        taken, self._rows = self._rows[:count], self._rows[count:]
        return taken

    async def fetchall(self) -> Sequence[Any]:
        taken, self._rows = self._rows, []
        return taken

    async def close(self) -> None:
        self._rows = []

    @property
    def description(self) -> Any:
        return self._done.description if self._done else None

    @property
    def rowcount(self) -> int:
        return self._done.rowcount if self._done else -1

    @property
    def lastrowid(self) -> int | None:
        return self._done.lastrowid if self._done else None


def _settle(future: asyncio.Future[Any] | None, settle: Callable[..., None], value: Any) -> None:
    if future is None:
        return
    try:
        future.get_loop().call_soon_threadsafe(settle, future, value)
    except RuntimeError:  # its event loop has closed: nobody waits for this any more
        pass


def _database_thread(tx: Any) -> None:
    """aiosqlite's worker loop, except that a result for a closed event loop is dropped (see the module's docstring)."""
    while True:
        future, function = tx.get()
        try:
            result = function()
        except BaseException as exc:  # noqa: BLE001 - handed to whoever awaits it, as aiosqlite does
            _settle(future, set_exception, exc)
            continue
        _settle(future, set_result, result)
        if result is _STOP_RUNNING_SENTINEL:
            return


class OneTripConnection(aiosqlite.Connection):
    _inline = False
    _busy_ms = 0  # the connection's busy timeout, off while it runs inline
    _durable: bool | None = None  # PRAGMA synchronous is FULL or EXTRA: a commit syncs the WAL (read once)

    def __init__(self, connector: Callable[[], sqlite3.Connection], iter_chunk_size: int) -> None:
        super().__init__(connector, iter_chunk_size)
        self._thread = threading.Thread(target=_database_thread, args=(self._tx,), daemon=True)

    def cursor(self) -> OneTripCursor:  # type: ignore[override]
        return OneTripCursor(self)

    @property
    def inline(self) -> bool:
        """Statements run on the calling (event loop's) thread; see the module's docstring."""
        return self._inline

    @inline.setter
    def inline(self, on: bool) -> None:
        """Called between statements (SQLAlchemy awaits each), so the sqlite3 connection is idle: its busy handler
        goes off for the inline statements and back on after them, once each way."""
        conn = self._connection  # None once closed
        if on == self._inline or conn is None:
            return
        if on:
            if self._durable is None:
                self._durable = int(conn.execute("PRAGMA synchronous").fetchone()[0]) >= 2
            self._busy_ms = int(conn.execute("PRAGMA busy_timeout").fetchone()[0])
            conn.execute("PRAGMA busy_timeout=0")
        else:
            conn.execute(f"PRAGMA busy_timeout={self._busy_ms}")
        self._inline = on

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` with the sqlite3 connection: here when `inline` (unless the database is locked), else on the
        database thread."""
        if self._inline:
            try:
                return fn(*args)
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                    raise
            # Nothing was done (a statement that cannot take the lock changes nothing): it waits on the database
            # thread, with the connection's busy timeout for that one statement.
            execute = self._conn.execute
            await self._execute(execute, f"PRAGMA busy_timeout={self._busy_ms}")  # type: ignore[no-untyped-call]
            try:
                return await self._execute(fn, *args)  # type: ignore[no-any-return, no-untyped-call]
            finally:
                await self._execute(execute, "PRAGMA busy_timeout=0")  # type: ignore[no-untyped-call]
        return await self._execute(fn, *args)  # type: ignore[no-any-return, no-untyped-call]

    # sqlite3's commit and rollback do nothing when no transaction is open; answering that here saves a trip to
    # the database thread for every connection the pool takes back (its reset is a rollback, after each commit)
    # and for every read-only transaction. Nothing else uses the connection meanwhile: SQLAlchemy awaits each call.
    async def commit(self) -> None:
        if self._idle():
            return
        if self._inline and self._durable:
            # A durable commit waits for the disk (the WAL's fsync): on the database thread, so the event loop
            # goes on meanwhile (sqlite3 lets go of the GIL while SQLite works).
            await self._execute(self._conn.commit)  # type: ignore[no-untyped-call]
            return
        await self.call(self._conn.commit)

    async def rollback(self) -> None:
        if self._idle():
            return
        await self.call(self._conn.rollback)

    def _idle(self) -> bool:
        connection = self._connection
        return connection is not None and not connection.in_transaction


def connect(database: str, *, iter_chunk_size: int = 64, **kwargs: Any) -> OneTripConnection:
    """Drop-in for aiosqlite.connect, passed to SQLAlchemy as connect_args["async_creator_fn"]."""

    def connector() -> sqlite3.Connection:
        # Used from the event loop's thread too (`inline`), never from two threads at once: SQLAlchemy awaits each call.
        connection: sqlite3.Connection = sqlite3.connect(database, **{**kwargs, "check_same_thread": False})
        # The search triggers call it for text with CJK characters (bot/core/common/cjk.py, migration 0850).
        connection.create_function(cjk.SQL_FUNCTION, 1, cjk.index_text, deterministic=True)
        return connection

    return OneTripConnection(connector, iter_chunk_size)
