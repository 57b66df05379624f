"""A row for every table, made from the metadata alone: tests that must cover each model, present and future."""

from __future__ import annotations

import itertools
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.clock import now
from bot.core.storage.base import Base

_serial = itertools.count(1)


def _value(column: sa.Column[Any], tag: str) -> Any:
    kind = column.type
    n = next(_serial)
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.DateTime):
        return now()
    if isinstance(kind, sa.Date):
        return now().date()
    if isinstance(kind, sa.Integer | sa.BigInteger):
        return n
    if isinstance(kind, sa.Float | sa.Numeric):
        return float(n)
    if isinstance(kind, sa.JSON):
        return {}
    if isinstance(kind, sa.LargeBinary):
        return b"x"
    if isinstance(kind, sa.String | sa.Text):
        length = getattr(kind, "length", None) or 64
        return f"{tag}{n}"[:length]
    raise AssertionError(f"tests/utils/rows.py cannot make a value for {column.table.name}.{column.name} ({kind!r})")


async def one_row_per_table(session: AsyncSession, org_id: int, tag: str) -> dict[str, int]:
    """Insert one row into every table (parents first), belonging to `org_id` where the table has org_id.
    Returns the primary key of each table's row; `organizations` maps to `org_id`."""
    ids: dict[str, int] = {"organizations": org_id}
    for table in Base.metadata.sorted_tables:
        if table.name in ids:
            continue
        values: dict[str, Any] = {}
        for column in table.columns:
            foreign = next(iter(column.foreign_keys), None)
            if foreign is not None:
                values[column.name] = ids[foreign.column.table.name]
            elif column.primary_key and column.autoincrement in (True, "auto") and isinstance(column.type, sa.Integer):
                continue
            elif column.nullable or column.default is not None or column.server_default is not None:
                continue
            else:
                values[column.name] = _value(column, tag)
        result = await session.execute(sa.insert(table).values(**values))
        key = cast("sa.CursorResult[Any]", result).inserted_primary_key
        ids[table.name] = int(key[0]) if key and key[0] is not None else 0
    return ids
