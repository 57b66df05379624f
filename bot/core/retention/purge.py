"""The retention run: what expired goes, a small batch per transaction, so it never holds the writer long.

For each category (rules.py) in order: ids of expired rows are read in id windows outside any write turn (WAL
readers never block the writer); each batch of ids is then removed in one transaction — one short SQLite write turn
(`bot/core/storage/db.py`), which the ingest writer's urgent turns overtake — with the rows hanging off them, and
the condition checked again inside it. Batches are sized to hold the writer about `retention.batch_target_ms`
(`Pacer`), at most `retention.batch_size` rows; that time includes a checkpoint of the batch's WAL pages inside the
same turn (SQLite), so no other writer's commit waits behind a purge's fsync. Files are removed after their batch
commits. Audit events go by whole checkpointed segments (`bot/core/orgs/audit_archive.py`). A dry run counts with
the same conditions and removes nothing, so it reports what a run at the same moment removes. A real run records
its counts in the platform audit chain (`retention.run`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import RetentionConfig
from bot.core.common.clock import now
from bot.core.orgs import audit_archive
from bot.core.orgs.audit import record
from bot.core.retention.rules import AUDIT, CATEGORIES, conversation_expired, table
from bot.core.storage.db import SessionFactory, checkpoint, transaction, write_turn

log = logging.getLogger(__name__)
WINDOW = 50_000  # ids scanned per read: bounds each statement on a big table
RUN_ACTION = "retention.run"
ORDER = ("outbox", "telegram_journal", "work_orders", "messages", "conversations", "attachments", "rights_requests",
         "tombstones", AUDIT, "files")


class Periods:
    """The cutoffs of one run: `settings.retention` read once, at one moment."""

    def __init__(self, config: RetentionConfig, moment: datetime) -> None:
        self.moment = moment
        self.days: dict[str, int | None] = {c.name: getattr(config, c.setting) for c in CATEGORIES}
        self.days[AUDIT] = config.audit_days

    def cutoff(self, name: str) -> datetime | None:
        days = self.days[name]
        return None if days is None else self.moment - timedelta(days=days)


@dataclass
class Report:
    dry_run: bool
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, name: str, count: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + count

    @property
    def total(self) -> int:
        return sum(n for name, n in self.counts.items() if name != "files")

    def lines(self) -> list[str]:
        verb = "would remove" if self.dry_run else "removed"
        return [f"{name}: {verb} {self.counts.get(name, 0)}" for name in ORDER]


async def _next_ids(factory: SessionFactory, t: Table, cond: ColumnElement[bool], after: int, top: int, limit: int) -> list[int]:
    """The next `limit` expired ids after `after`, reading windows of ids (never the whole table at once)."""
    async with factory() as session:
        while after < top:
            upper = min(after + WINDOW, top)
            ids = (await session.scalars(select(t.c.id).where(t.c.id > after, t.c.id <= upper, cond)
                                         .order_by(t.c.id).limit(limit))).all()
            if ids:
                return [int(i) for i in ids]
            after = upper
    return []


async def _count(factory: SessionFactory, t: Table, cond: ColumnElement[bool]) -> int:
    async with factory() as session:
        return int(await session.scalar(select(func.count()).select_from(t).where(cond)) or 0)


def _rows(result: Any) -> int:
    return int(result.rowcount or 0)


async def _remove(session: AsyncSession, name: str, t: Table, ids: Sequence[int],
                  cond: ColumnElement[bool]) -> tuple[int, list[str]]:
    """Remove one batch of a category (with the rows hanging off it); returns (rows, files to delete after commit)."""
    ids = [int(i) for i in (await session.scalars(select(t.c.id).where(t.c.id.in_(ids), cond))).all()]
    if not ids:
        return 0, []
    files: list[str] = []
    if name == "outbox":
        for holder in ("broadcast_recipients", "notification_pushes"):
            h = table(holder)
            if h is not None:
                await session.execute(update(h).where(h.c.outbox_id.in_(ids)).values(outbox_id=None))
    elif name == "work_orders":
        csat, events = table("csat_responses"), table("work_order_events")
        assert csat is not None and events is not None
        await session.execute(delete(csat).where(csat.c.subject_type == "work_order", csat.c.subject_id.in_(ids)))
        await session.execute(delete(events).where(events.c.work_order_id.in_(ids)))
    elif name == "messages":
        outbox, mirrors = table("outbox"), table("telegram_topic_messages")
        assert outbox is not None
        await session.execute(update(outbox).where(outbox.c.message_id.in_(ids)).values(message_id=None))
        if mirrors is not None:
            await session.execute(delete(mirrors).where(mirrors.c.message_id.in_(ids)))
    elif name == "conversations":
        csat = table("csat_responses")
        assert csat is not None
        await session.execute(delete(csat).where(csat.c.subject_type == "conversation", csat.c.subject_id.in_(ids)))
        for child in ("conversation_clocks", "conversation_labels", "conversation_triage", "telegram_topics", "slack_threads"):
            c = table(child)
            if c is not None:
                await session.execute(delete(c).where(c.c.conversation_id.in_(ids)))
    elif name == "attachments":
        messages = table("messages")
        assert messages is not None
        files = [str(p) for p in (await session.scalars(select(t.c.storage_path).where(t.c.id.in_(ids)))).all() if p]
        await session.execute(update(messages).where(messages.c.attachment_id.in_(ids)).values(attachment_id=None))
    elif name in ("rights_requests", "tombstones"):
        files = [str(p) for p in (await session.scalars(select(t.c.export_path).where(t.c.id.in_(ids)))).all() if p]
        for child in ("rights_request_events", "deletion_notices"):
            c = table(child)
            assert c is not None
            await session.execute(delete(c).where(c.c.request_id.in_(ids)))
    result = await session.execute(delete(t).where(t.c.id.in_(ids)))
    return _rows(result), files


def _steps(periods: Periods) -> list[tuple[str, str, ColumnElement[bool]]]:
    """(name, table, condition) in purge order; categories kept for ever (or whose table is not loaded) are left out."""
    steps: list[tuple[str, str, ColumnElement[bool]]] = []
    for category in CATEGORIES:
        cutoff = periods.cutoff(category.name)
        if cutoff is None or table(category.table) is None:
            continue
        steps.append((category.name, category.table, category.expired(cutoff)))
        if category.name == "messages":
            steps.append(("conversations", "conversations", conversation_expired(cutoff, periods.cutoff("work_orders"))))
    return steps


def _remove_files(data_dir: Path, paths: Sequence[str]) -> int:
    found = _existing(data_dir, paths)
    for path in found:
        path.unlink(missing_ok=True)
    return len(found)


def _existing(data_dir: Path, paths: Sequence[str]) -> list[Path]:
    root = data_dir.resolve()
    found = []
    for relative in paths:
        path = (data_dir / relative).resolve()
        if root in path.parents and path.is_file():
            found.append(path)
    return found


async def _files_of(factory: SessionFactory, name: str, t: Table, cond: ColumnElement[bool]) -> list[str]:
    column = {"attachments": "storage_path", "rights_requests": "export_path", "tombstones": "export_path"}.get(name)
    if column is None:
        return []
    async with factory() as session:
        return [str(p) for p in (await session.scalars(select(t.c[column]).where(cond))).all() if p]


async def run(*, factory: SessionFactory, config: RetentionConfig, data_dir: Path, dry_run: bool = False,
              moment: datetime | None = None) -> Report:
    """One retention run (or its dry run) at `moment` (default: the clock's now)."""
    started = time.monotonic()
    periods = Periods(config, moment or now())
    report = Report(dry_run=dry_run)
    pacer = Pacer(config.batch_size, config.batch_target_ms)
    for name, table_name, cond in _steps(periods):
        t = table(table_name)
        assert t is not None
        if dry_run:
            report.add(name, await _count(factory, t, cond))
            report.add("files", len(_existing(data_dir, await _files_of(factory, name, t, cond))))
            continue
        await _purge(factory, name, t, cond, pacer, data_dir, report)
    audit_cutoff = periods.cutoff(AUDIT)
    if audit_cutoff is not None:
        for segment in await audit_archive.plan(factory=factory, cutoff=audit_cutoff):
            if dry_run:
                report.add(AUDIT, segment.removed)
                continue
            try:
                report.add(AUDIT, await audit_archive.archive_segment(
                    factory=factory, data_dir=data_dir, segment=segment, batch_size=pacer.size, between=_yield))
            except ValueError:
                log.exception("audit segment of chain %s not archived", segment.org_id)
    report.seconds = time.monotonic() - started
    if not dry_run:
        async with transaction(factory) as session:
            await record(session=session, org_id=None, actor_type="system", actor_id=None, action=RUN_ACTION,
                         detail={"removed": dict(report.counts), "seconds": round(report.seconds, 3),
                                 "moment": periods.moment.isoformat()})
    return report


async def _yield() -> None:
    await asyncio.sleep(0)  # let whatever waits for the event loop (and the writer) go between batches


class Pacer:
    """Batch sizes that keep each transaction near `target_ms` of holding the writer, whatever a row costs (a big
    table's indexes, a loaded machine): halved after a slow batch, grown by a quarter after a quick one, never
    above `batch_size`. The time counts from the writer being ours to the commit and its checkpoint, not the wait for
    it."""

    def __init__(self, batch_size: int, target_ms: float) -> None:
        self.most, self.target = batch_size, target_ms / 1000
        self.size = min(batch_size, 50)

    @asynccontextmanager
    async def batch(self, factory: SessionFactory) -> AsyncIterator[AsyncSession]:
        async with write_turn(factory), factory() as session:
            began = time.monotonic()
            async with session.begin():
                yield session
            # The batch's WAL pages go into the database before the turn is handed on, and the time counts in the
            # batch's: run beside another writer, this checkpoint's fsync held up that writer's commit instead. Left
            # to the once-a-second checkpoint, a second of purging was synced at once, and a chat message's commit
            # waited behind that fsync (acks of 144-200 ms during a run).
            await checkpoint(factory)
            self.took(time.monotonic() - began)

    def took(self, seconds: float) -> None:
        if seconds > self.target:
            self.size = max(1, self.size // 2)
        elif seconds < self.target / 2:
            self.size = min(self.most, self.size + max(1, self.size // 4))


async def _purge(factory: SessionFactory, name: str, t: Table, cond: ColumnElement[bool], pacer: Pacer,
                 data_dir: Path, report: Report) -> None:
    async with factory() as session:
        top = int(await session.scalar(select(func.max(t.c.id))) or 0)
    after = 0
    while True:
        ids = await _next_ids(factory, t, cond, after, top, pacer.size)
        if not ids:
            return
        after = ids[-1]
        async with pacer.batch(factory) as session:
            count, files = await _remove(session, name, t, ids, cond)
        report.add(name, count)
        if files:  # file system calls off the event loop: a batch may name hundreds of files
            report.add("files", await asyncio.to_thread(_remove_files, data_dir, files))
        await _yield()


async def last_run(*, session: AsyncSession) -> datetime | None:
    from bot.core.orgs.models import AuditEvent

    return await session.scalar(select(func.max(AuditEvent.created_at)).where(
        AuditEvent.org_id.is_(None), AuditEvent.action == RUN_ACTION))
