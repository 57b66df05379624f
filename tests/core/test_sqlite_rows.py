"""storage/sqlite_rows.py writes the rows SQLAlchemy's Core INSERT and UPDATE would: the same stored values (dates,
JSON, booleans, defaults), in as few statements as SQLite's parameter limit allows, and refuses what it would get
wrong (a SQL default, an onupdate column) instead of writing something else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Boolean, Column, DateTime, Integer, MetaData, String, Table, event, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.storage import sqlite_rows
from bot.core.storage.db import create_engine

META = MetaData()
ROWS = Table(
    "rows",
    META,
    Column("id", Integer, primary_key=True),
    Column("name", String(50)),
    Column("data", JSON, default=dict),
    Column("flag", Boolean, default=True),
    Column("at", DateTime, default=lambda: datetime(2026, 12, 1, 8, 30, 0, 12)),
    Column("seen", DateTime, nullable=True),
    Column("kind", String(10), default="plain"),
    Column("server", Integer, server_default="7"),
)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    made = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'rows.db'}")
    async with made.begin() as conn:
        await conn.run_sync(META.create_all)
    yield made
    await made.dispose()


async def stored(engine: AsyncEngine) -> list[tuple[Any, ...]]:
    """Each row as SQLite holds it (no result processing): what either path wrote, byte for byte."""
    async with engine.connect() as conn:
        return [tuple(row) for row in (await conn.exec_driver_sql("SELECT * FROM rows ORDER BY id")).all()]


ROW_VALUES: list[dict[str, Any]] = [
    {"name": "plain"},
    {"name": "full", "data": {"a": [1, "两"]}, "flag": False, "at": datetime(2026, 1, 2, 3, 4, 5),
     "seen": datetime(2026, 1, 2, 3, 4, 5, 678901)},
    {"name": "none", "seen": None, "kind": "other"},
]


async def test_an_insert_stores_what_sqlalchemy_core_stores(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for row in ROW_VALUES:
            await conn.execute(insert(ROWS), [dict(row)])
    core = await stored(engine)
    async with engine.begin() as conn:
        await conn.exec_driver_sql("DELETE FROM rows")
        made = sqlite_rows.Insert(ROWS, ["name", "seen"], conn.dialect, returning=["id"])
        back = await made.returning(conn, [dict(row) for row in ROW_VALUES])
    ids = [row[0] for row in back]
    assert ids == sorted(ids) == list(range(ids[0], ids[0] + 3))  # a VALUES list is inserted in its order
    ours = await stored(engine)
    assert [row[1:] for row in ours] == [row[1:] for row in core]
    assert ours[1][2:6] == ('{"a": [1, "\\u4e24"]}', 0, "2026-01-02 03:04:05.000000", "2026-01-02 03:04:05.678901")
    assert ours[0][7] == 7  # a column only the database fills is left to it


async def test_many_rows_go_in_statements_within_the_parameter_limit_and_keep_their_order(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_rows, "MAX_PARAMETERS", 10)  # name and the 4 columns with defaults: 2 rows a statement
    sent: list[tuple[int, bool]] = []

    def record(_conn: Any, _cursor: Any, sql: str, _params: Any, _context: Any, executemany: bool) -> None:
        sent.append((sql.count("(?"), executemany))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    async with engine.begin() as conn:
        made = sqlite_rows.Insert(ROWS, ["name"], conn.dialect, returning=["id", "name"])
        assert made.per_statement == 2
        back = await made.returning(conn, [{"name": f"n{n}"} for n in range(5)])
        await made.many(conn, [{"name": "x"}, {"name": "y"}])
    event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert [row[1] for row in back] == ["n0", "n1", "n2", "n3", "n4"]
    assert sent == [(2, False), (2, False), (1, False), (1, True)]  # then one executemany of one row's SQL
    assert len(await stored(engine)) == 7


async def test_an_update_stores_each_objects_values_as_core_does(engine: AsyncEngine) -> None:
    class Obj:
        def __init__(self, id: int, at: datetime, data: dict[str, Any]) -> None:  # noqa: A002
            self.id, self.at, self.data = id, at, data

    async with engine.begin() as conn:
        await conn.execute(insert(ROWS), [{"name": "a"}, {"name": "b"}])
        await conn.execute(update(ROWS).where(ROWS.c.id == 1).values(at=datetime(2027, 5, 6, 7, 8, 9, 10), data={"x": 1}))
    core = (await stored(engine))[0]
    async with engine.begin() as conn:
        made = sqlite_rows.Update(ROWS, ["data", "at"], conn.dialect)
        await made.many(conn, [Obj(2, datetime(2027, 5, 6, 7, 8, 9, 10), {"x": 1})])
    assert (await stored(engine))[1][2:] == core[2:]


async def test_an_aware_datetime_is_converted_by_sqlalchemys_own_processor(engine: AsyncEngine) -> None:
    aware = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)
    async with engine.begin() as conn:
        await conn.execute(insert(ROWS), [{"name": "core", "seen": aware}])
        await sqlite_rows.Insert(ROWS, ["name", "seen"], conn.dialect).many(conn, [{"name": "ours", "seen": aware}])
    core, ours = await stored(engine)
    assert core[5] == ours[5]


async def test_what_it_would_write_differently_is_refused(engine: AsyncEngine) -> None:
    sql_default = Table("sql_default", MetaData(), Column("id", Integer, primary_key=True), Column("at", DateTime, default=func.now()))
    on_update = Table("on_update", MetaData(), Column("id", Integer, primary_key=True), Column("a", Integer),
                      Column("changed", DateTime, onupdate=datetime.now))
    dialect = engine.dialect
    with pytest.raises(ValueError, match="SQL default"):
        sqlite_rows.Insert(sql_default, ["id"], dialect)
    with pytest.raises(ValueError, match="onupdate"):
        sqlite_rows.Update(on_update, ["a"], dialect)
    sqlite_rows.Update(on_update, ["a", "changed"], dialect)  # written by the caller: fine


async def test_it_runs_in_the_callers_transaction(engine: AsyncEngine) -> None:
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn:
            await sqlite_rows.Insert(ROWS, ["name"], conn.dialect).many(conn, [{"name": "gone"}])
            raise RuntimeError("rolled back")
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(ROWS))).scalar_one() == 0
        assert (await conn.execute(text("SELECT count(*) FROM rows"))).scalar_one() == 0
