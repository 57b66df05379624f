"""The export package of one customer (review and copy requests): a zip built from the personal-data registry.

Per data category (registered table) one JSON and one CSV file, the customer's files under files/, and a
README explaining every field (bot/core/personal_data/fields.py) and what is withheld and why. Rows are
read in keyset pages (one bounded query each) straight into the zip on disk, so memory stays flat however many
messages a customer has. A customer with no data gets an empty, valid package (empty arrays, header-only CSVs).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import tempfile
import uuid
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.clock import now
from bot.core.files.models import Attachment
from bot.core.personal_data.fields import WITHHELD, describe, withheld
from bot.core.personal_data.registry import Entry, Owner, customer_entries, table

PAGE = 5000
Progress = Callable[[int], Awaitable[None]]


@dataclass
class ExportSummary:
    path: Path
    rows: dict[str, int] = field(default_factory=dict)
    files: int = 0


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds") + "Z"
    return str(value)


def _columns(entry: Entry) -> list[str]:
    return [c for c in table(entry.table).c.keys() if not withheld(entry.table, c)]


async def _pages(session: AsyncSession, entry: Entry, owner: Owner, names: list[str]) -> AsyncIterator[list[Any]]:
    """Keyset pages in primary-key order: one bounded query per page on every backend (no result held whole)."""
    assert entry.owner is not None
    t = table(entry.table)
    key = next(iter(t.primary_key.columns))
    at = names.index(key.name)
    query = select(*(t.c[name] for name in names)).where(entry.owner(owner)).order_by(key).limit(PAGE)
    last: Any = None
    while True:
        rows = list((await session.execute(query if last is None else query.where(key > last))).all())
        if rows:
            yield rows
        if len(rows) < PAGE:
            return
        last = rows[-1][at]


async def _write_category(zf: zipfile.ZipFile, session: AsyncSession, entry: Entry, owner: Owner) -> int:
    """One pass over the rows: JSON straight into the zip, CSV into a spooled temporary file added after it."""
    names = _columns(entry)
    structured = [i for i, name in enumerate(names) if isinstance(table(entry.table).c[name].type, JSON)]
    count = 0
    with tempfile.SpooledTemporaryFile(max_size=4 << 20, mode="w+", encoding="utf-8", newline="") as spool:
        page = io.StringIO()
        writer = csv.writer(page)
        writer.writerow(names)
        with zf.open(f"{entry.table}.json", "w") as raw:
            raw.write(b"[")
            async for rows in _pages(session, entry, owner, names):
                body = json.dumps([dict(zip(names, row, strict=True)) for row in rows], default=_default, ensure_ascii=False)
                raw.write(((",\n" if count else "\n") + body[1:-1]).encode())
                writer.writerows(_csv_rows(rows, structured))
                spool.write(page.getvalue())  # one write per page, not per row
                page.seek(0)
                page.truncate()
                count += len(rows)
            spool.write(page.getvalue())
            raw.write(b"\n]\n")
        spool.seek(0)
        with zf.open(f"{entry.table}.csv", "w") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
            shutil.copyfileobj(spool, text, 1 << 20)
    return count


def _csv_rows(rows: list[Any], structured: list[int]) -> Iterable[Sequence[Any]]:
    if not structured:
        return rows  # csv writes None as empty and datetimes as "YYYY-MM-DD HH:MM:SS"
    out = []
    for row in rows:
        cells = list(row)
        for i in structured:
            cells[i] = json.dumps(cells[i], ensure_ascii=False, sort_keys=True)
        out.append(cells)
    return out


def _readme(entries: list[Entry], rows: dict[str, int], files: int, org_name: str) -> str:
    lines = [f"# Your data held by {org_name}", "", f"Exported {now().isoformat(timespec='seconds')}Z. Each data category",
             "is in two files with the same content: <category>.json and <category>.csv (times in UTC; JSON in CSV cells).",
             f"files/ holds the {files} file(s) you or an agent sent in your conversations.", ""]
    for entry in entries:
        lines += [f"## {entry.table} ({rows.get(entry.table, 0)} rows)", ""]
        lines += [f"- `{name}`: {describe(entry.table, name)}" for name in _columns(entry)]
        lines.append("")
    lines += ["## Withheld", "", "These fields exist but are not exported:", ""]
    lines += [f"- `{name}`: {why}" for name, why in sorted(WITHHELD.items())]
    return "\n".join(lines) + "\n"


async def build_export(
    *, session: AsyncSession, data_dir: Path, org_id: int, org_name: str, customer_id: int, progress: Progress | None = None
) -> ExportSummary:
    """Write the package to data_dir/exports/ and return where it is with row counts per category."""
    owner = Owner(org_id=org_id, customer_id=customer_id)
    folder = data_dir / "exports" / str(org_id)
    folder.mkdir(parents=True, exist_ok=True)
    summary = ExportSummary(path=folder / f"{uuid.uuid4().hex}.zip")
    entries = customer_entries()
    with zipfile.ZipFile(summary.path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for done, entry in enumerate(entries, start=1):
            summary.rows[entry.table] = await _write_category(zf, session, entry, owner)
            if progress is not None:
                await progress(int(90 * done / len(entries)))
        summary.files = await _write_files(zf, session, data_dir, owner)
        zf.writestr("README.md", _readme(entries, summary.rows, summary.files, org_name))
    if progress is not None:
        await progress(100)
    return summary


async def _write_files(zf: zipfile.ZipFile, session: AsyncSession, data_dir: Path, owner: Owner) -> int:
    entry = next(e for e in customer_entries() if e.files)
    assert entry.owner is not None
    a = table("attachments")
    rows = (await session.execute(select(a.c.id, a.c.filename, a.c.storage_path).where(entry.owner(owner)).order_by(a.c.id))).all()
    written = 0
    for ident, filename, storage_path in rows:
        path = data_dir / storage_path
        if path.is_file():
            zf.write(path, f"files/{ident}-{filename}")
            written += 1
    return written


async def attach_package(*, session: AsyncSession, data_dir: Path, org_id: int, customer_id: int, summary: ExportSummary,
                         number: str) -> Attachment:
    """The package as an attachment of the customer (so it can be sent in the chat, and is erased with them)."""
    digest = hashlib.sha256()
    with summary.path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    relative = summary.path.relative_to(data_dir)
    attachment = Attachment(org_id=org_id, customer_id=customer_id, filename=f"{number}-your-data.zip",
                            mime_type="application/zip", size=summary.path.stat().st_size, sha256=digest.hexdigest(),
                            storage_path=str(relative))
    session.add(attachment)
    await session.flush()
    return attachment
