"""Orphan attachments: rows nothing refers to, and files no row names, removed once they are old enough.

How they arise: an upload whose message never came (the ingest refused it, the process died between the two
commits), a platform retry whose duplicate was noticed only after its file was fetched, a transaction that
rolled back after `store_attachment` had written the file, a process killed between the write and the commit.

Guarantees:
- an attachment row older than `GRACE` that nothing refers to is deleted, then its file; "refers" means any
  foreign key to `attachments.id` in the metadata (messages, certification licenses, and any later table),
  `organizations.logo_attachment_id`, a work order's `attachment_ids` and a rights request's `export_path`
  (`REFERENCES` below; `tests/core/test_orphan_attachments.py` fails when a column that looks like a
  reference is not among them); the no-reference check is repeated inside the DELETE, so a reference written
  meanwhile keeps the row;
- a file under `<data_dir>/attachments/` older than `GRACE` that no row names is deleted;
- a file is removed only after the row's deletion is committed (a rollback keeps both); nothing younger
  than `GRACE` is touched, so an upload on its way to its message is safe;
- tables are named, not imported (as in the personal-data registry): when one of them is missing from the
  metadata the sweep refuses to run rather than judge on a partial view.
The scheduler runs it daily in one process at a time (the sweep lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, ColumnElement, Table, and_, delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.clock import now
from bot.core.storage.base import Base
from bot.core.storage.db import SessionFactory, transaction

if TYPE_CHECKING:
    from bot.context import AppContext

GRACE = timedelta(hours=24)
BATCH = 500
ATTACHMENTS_DIR = "attachments"
# References that are not foreign keys: (table, column, what it holds).
NAMED_REFERENCES = (
    ("organizations", "logo_attachment_id", "id"),
    ("work_orders", "attachment_ids", "ids"),  # a JSON list of attachment ids
    ("rights_requests", "export_path", "path"),  # the export package's storage_path
)


@dataclass
class OrphanReport:
    rows: int = 0
    files: int = 0  # files without a row


def _table(name: str) -> Table:
    table = Base.metadata.tables.get(name)
    if table is None:
        raise RuntimeError(f"orphan sweep: table {name} is not loaded; nothing is removed")
    return table


def foreign_key_references() -> list[Column[Any]]:
    """Every column with a foreign key to attachments.id, in every loaded table."""
    return [column for table in Base.metadata.sorted_tables for column in table.columns
            if any(fk.column.table.name == "attachments" for fk in column.foreign_keys)]


def reference_columns() -> list[str]:
    """`table.column` of every reference the sweep honours."""
    named = [f"{t}.{c}" for t, c, _ in NAMED_REFERENCES]
    return sorted({f"{c.table.name}.{c.name}" for c in foreign_key_references()} | set(named))


def _unreferenced(a: Table) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [~exists().where(column == a.c.id) for column in foreign_key_references()]
    logos = _table("organizations").c.logo_attachment_id
    exports = _table("rights_requests").c.export_path
    conditions += [~exists().where(logos == a.c.id), ~exists().where(exports == a.c.storage_path)]
    return conditions


async def _in_work_orders(session: AsyncSession, candidates: list[Any]) -> set[int]:
    """Candidate ids a work order lists (JSON, so compared here). A work order lists files sent before it was
    opened, so only work orders of those organizations opened since the oldest candidate can name one."""
    w = _table("work_orders")
    oldest = min(row.created_at for row in candidates)
    orgs = {row.org_id for row in candidates}
    lists = await session.scalars(select(w.c.attachment_ids).where(w.c.org_id.in_(orgs), w.c.created_at >= oldest))
    named = {int(i) for ids in lists if isinstance(ids, list) for i in ids if isinstance(i, int)}
    return named & {row.id for row in candidates}


async def remove_orphan_rows(*, factory: SessionFactory, data_dir: Path, older_than: datetime) -> int:
    """Deletes unreferenced attachment rows created before `older_than`, batch by batch, then their files."""
    a = _table("attachments")
    removed, after = 0, 0
    while True:
        async with factory() as session:
            candidates = (await session.execute(
                select(a.c.id, a.c.org_id, a.c.created_at)
                .where(a.c.created_at < older_than, a.c.id > after, *_unreferenced(a))
                .order_by(a.c.id).limit(BATCH)
            )).all()
            if not candidates:
                return removed
            after = candidates[-1].id
            keep = await _in_work_orders(session, list(candidates))
        ids = [row.id for row in candidates if row.id not in keep]
        if not ids:
            continue
        async with transaction(factory) as session:
            gone = (await session.execute(
                delete(a).where(and_(a.c.id.in_(ids), a.c.created_at < older_than, *_unreferenced(a))).returning(a.c.storage_path)
            )).scalars().all()
        for relative in gone:  # after the commit: a rollback keeps row and file together
            with contextlib.suppress(FileNotFoundError):
                (data_dir / relative).unlink()
        removed += len(gone)


def _old_files(data_dir: Path, older_than: float) -> list[str]:
    """Relative paths of regular files under attachments/ last modified before `older_than` (a timestamp)."""
    root = data_dir / ATTACHMENTS_DIR
    found: list[str] = []
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < older_than:
                found.append(Path(entry.path).relative_to(data_dir).as_posix())
    return found


async def remove_files_without_rows(*, factory: SessionFactory, data_dir: Path, older_than: datetime) -> int:
    a = _table("attachments")
    epoch_seconds = (older_than - datetime(1970, 1, 1)).total_seconds()  # the clock is naive UTC
    paths = await asyncio.to_thread(_old_files, data_dir, epoch_seconds)  # a large store is a long walk: off the loop
    removed = 0
    for start in range(0, len(paths), BATCH):
        chunk = paths[start:start + BATCH]
        async with factory() as session:
            known = set((await session.scalars(select(a.c.storage_path).where(a.c.storage_path.in_(chunk)))).all())
        for relative in chunk:
            if relative not in known:
                with contextlib.suppress(FileNotFoundError):
                    (data_dir / relative).unlink()
                    removed += 1
    return removed


async def sweep_orphan_attachments(*, factory: SessionFactory, data_dir: Path, grace: timedelta = GRACE) -> OrphanReport:
    older_than = now() - grace
    report = OrphanReport()
    report.rows = await remove_orphan_rows(factory=factory, data_dir=data_dir, older_than=older_than)
    report.files = await remove_files_without_rows(factory=factory, data_dir=data_dir, older_than=older_than)
    return report


def install(ctx: AppContext) -> None:
    async def sweep() -> OrphanReport:
        return await sweep_orphan_attachments(factory=ctx.factory, data_dir=ctx.settings.data_dir)

    ctx.services["scheduler"].daily(SWEEP_JOB, SWEEP_TIME, sweep)


SWEEP_JOB = "attachments.orphans"
SWEEP_TIME = "04:10"  # UTC, after the audit checkpoint
