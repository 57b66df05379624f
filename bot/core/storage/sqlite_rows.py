"""SQLite: a hot path's INSERTs and UPDATEs as SQL written once, with each row's values converted here.

SQLAlchemy's Core execution does, for every row of every execution, what a statement that never changes shape
needs only once: it builds the parameters from the compiled statement (`construct_params`), runs each column
type's bind processor through its execution context, and fills Python-side column defaults. For the ingest
writer's batches that was about a fifth of a first contact's CPU (four messages, three outbox rows and three new
chat rows). Here each statement's SQL is written once from the table's metadata (quoted by the dialect), each
column's conversion is looked up once (the type's own bind processor; SQLite's DATETIME by `isoformat`, which gives
the string SQLAlchemy's processor gives for a naive datetime), and the rows go to the driver through
`exec_driver_sql`: still one SQLAlchemy execution (its events fire, its transaction is the session's), but with
positional values ready to bind.

PostgreSQL keeps its array statements (conversations/ingest_writes.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from operator import attrgetter, itemgetter
from typing import Any

from sqlalchemy import DateTime, Table, bindparam, insert, update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

Convert = Callable[[Any], Any]
# SQLite's default limit on a statement's parameters (SQLITE_MAX_VARIABLE_NUMBER) since 3.32: a multi-row INSERT
# is split so that none has more.
MAX_PARAMETERS = 32_766


def _datetime(fallback: Convert) -> Convert:
    def convert(value: Any) -> Any:
        if type(value) is datetime and value.tzinfo is None:
            return value.isoformat(" ", "microseconds")  # SQLAlchemy's SQLite DATETIME format, for a naive datetime
        return fallback(value)

    return convert


def identity(value: Any) -> Any:
    return value


def converter(table: Table, name: str, dialect: Dialect) -> Convert:
    """The value SQLite's driver binds for a Python value of the column (what SQLAlchemy's execution would bind)."""
    kind = table.c[name].type
    processor = kind.dialect_impl(dialect).bind_processor(dialect)
    if processor is None:
        return identity
    if isinstance(kind, DateTime) and type(kind) is DateTime:  # no TypeDecorator around it: the plain format
        return _datetime(processor)
    return processor


def default_of(table: Table, name: str) -> Callable[[], Any] | None:
    """The column's Python-side INSERT default as a function of nothing; None when it has none. A SQL expression
    or sequence default is refused: it is not written by this module."""
    default = table.c[name].default
    if default is None:
        return None
    if getattr(default, "is_scalar", False):
        value = default.arg  # type: ignore[attr-defined]
        return lambda: value
    if getattr(default, "is_callable", False):
        fn = default.arg  # type: ignore[attr-defined]
        return lambda: fn(None)  # SQLAlchemy wraps a callable of no arguments as one of the execution context
    raise ValueError(f"{table.name}.{name}: a SQL default is not written by sqlite_rows")


def _compiled(stmt: Any, dialect: Dialect) -> Any:
    compiled = stmt.compile(dialect=dialect)
    if dialect.paramstyle != "qmark":
        raise ValueError(f"sqlite_rows: {dialect.name} does not take `?` parameters")
    return compiled


def _split_values(sql: str, count: int) -> tuple[str, str, str]:
    """(head up to VALUES, one row's "(?, ...)", the rest) of a one-row INSERT's SQL."""
    one = "(" + ", ".join(["?"] * count) + ")"
    head, found, rest = sql.partition(" VALUES " + one)
    if not found:
        raise ValueError(f"sqlite_rows: no VALUES list in {sql}")
    return head + " VALUES ", one, rest


class Insert:
    """INSERT INTO table (columns) VALUES (?, ...)[, (?, ...) ...] [RETURNING ...]. The columns are those named and
    every other column with a Python-side default; a row is a dict, and a column it lacks takes that default (None
    without one), as in SQLAlchemy's INSERT. Columns neither named nor with a Python default are left to the
    database (its server default, else NULL)."""

    def __init__(self, table: Table, columns: Sequence[str], dialect: Dialect, returning: Sequence[str] = ()) -> None:
        self.table = table
        named = tuple(columns)
        wanted = named + tuple(c.name for c in table.c if c.default is not None and c.name not in named)
        stmt = insert(table).values({name: bindparam(name) for name in wanted})
        if returning:
            stmt = stmt.returning(*(table.c[name] for name in returning))
        compiled = _compiled(stmt, dialect)
        self.columns: tuple[str, ...] = tuple(compiled.positiontup or ())  # SQLAlchemy writes them in the table's order
        if sorted(self.columns) != sorted(wanted):
            raise ValueError(f"sqlite_rows: {compiled} does not take its parameters as {sorted(wanted)}")
        convert = [converter(table, name, dialect) for name in self.columns]
        get = itemgetter(*self.columns)
        self._get = get if len(self.columns) > 1 else (lambda row: (get(row),))
        self._convert = tuple((i, fn) for i, fn in enumerate(convert) if fn is not identity)  # the others bind as they are
        self._defaults = {name: default_of(table, name) for name in self.columns}
        self._all = frozenset(self.columns)
        # "INSERT INTO t (a, b) VALUES (?, ?) RETURNING id", as SQLAlchemy writes it; more rows repeat the "(?, ?)"
        self._head, self._one, self._returning = _split_values(str(compiled), len(self.columns))
        self._sql: dict[int, str] = {}
        self.per_statement = max(1, MAX_PARAMETERS // max(1, len(self.columns)))
        # (name, conversion) of each RETURNING column: what SQLAlchemy's result processing would make of its value
        self.result_processors: list[tuple[str, Convert]] = [
            (name, table.c[name].type.dialect_impl(dialect).result_processor(dialect, None) or identity) for name in returning
        ]

    def fill(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row with every column's value: one it lacks takes the column's default (None without one)."""
        if not self._all <= row.keys():
            for name, make in self._defaults.items():
                if name not in row:
                    row[name] = make() if make is not None else None
        return row

    def values(self, row: dict[str, Any]) -> tuple[Any, ...]:
        values = self._get(row)
        if not self._convert:
            return values
        out = list(values)
        for i, convert in self._convert:
            out[i] = convert(out[i])
        return tuple(out)

    def sql(self, count: int) -> str:
        sql = self._sql.get(count)
        if sql is None:
            sql = self._sql[count] = self._head + ", ".join([self._one] * count) + self._returning
        return sql

    async def many(self, conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
        """Every row, with one executemany (no RETURNING)."""
        if rows:
            await conn.exec_driver_sql(self.sql(1), [self.values(self.fill(row)) for row in rows])

    async def returning(self, conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> list[Any]:
        """Every row in multi-row statements (as few as the parameter limit allows); the RETURNING rows in the
        order SQLite gives them (for a VALUES list, insertion order is rowid order: sort by id when it matters)."""
        out: list[Any] = []
        for start in range(0, len(rows), self.per_statement):
            chunk = rows[start:start + self.per_statement]
            flat = [value for row in chunk for value in self.values(self.fill(row))]
            out.extend((await conn.exec_driver_sql(self.sql(len(chunk)), tuple(flat))).all())
        return out


class Update:
    """UPDATE table SET a = ?, b = ? WHERE id = ?, one executemany for many rows."""

    def __init__(self, table: Table, columns: Sequence[str], dialect: Dialect) -> None:
        updated = [c.name for c in table.c if c.onupdate is not None and c.name not in columns]
        if updated:  # SQLAlchemy's UPDATE would set them too
            raise ValueError(f"sqlite_rows: {table.name}.{updated[0]} has an onupdate default, not written here")
        stmt = update(table).where(table.c.id == bindparam("row_id")).values({name: bindparam(f"v_{name}") for name in columns})
        compiled = _compiled(stmt, dialect)
        order = list(compiled.positiontup or ())
        self.columns: tuple[str, ...] = tuple(name[2:] for name in order[:-1])  # SQLAlchemy writes them in the table's order
        if order[-1:] != ["row_id"] or sorted(self.columns) != sorted(columns):
            raise ValueError(f"sqlite_rows: {compiled} does not take its parameters as {sorted(columns)} and the id")
        self.sql = str(compiled)
        self._get = attrgetter(*self.columns, "id")
        convert = [converter(table, name, dialect) for name in (*self.columns, "id")]
        self._convert = tuple((i, fn) for i, fn in enumerate(convert) if fn is not identity)

    async def many(self, conn: AsyncConnection, objs: Sequence[Any]) -> None:
        """Each object's current values of the columns, by its id."""
        rows = []
        for obj in objs:
            values = list(self._get(obj))
            for i, convert in self._convert:
                values[i] = convert(values[i])
            rows.append(tuple(values))
        if rows:
            await conn.exec_driver_sql(self.sql, rows)
