"""Audit retention: whole checkpointed segments of a chain move from the database to a file, verification still passes.

A segment is every event of one chain up to a checkpointed head whose event is older than the cutoff. Its rows
are streamed (in pages, outside any write turn) into `<data_dir>/audit-archive/<chain>/<first>-<last>.jsonl`
(directory 0700, file 0600), checked on the way against the checkpoint (hash and count), and the file is kept
only if they agree. Each line holds an event's non-personal columns and its `personal_digest`, never its
personal part (subject, detail, a customer actor's id, salt): the digest is all the chain needs, so the
archive verifies on its own (`verify_archive_file`) and an erasure never has to reach into it. Then one short
transaction records the archive (`audit_archives`: last id, head hash, running total, file checksum) and
the archived rows are deleted in batches; the delete guard of migration 0810 lets only covered rows go. From
the moment the archive row exists, `verify_chain` starts at its head hash, so the chain verifies during and
after the deletion, and a run cut short deletes the rest next time.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.clock import now
from bot.core.orgs.audit import chain_digest, latest_archive
from bot.core.orgs.models import AuditArchive, AuditCheckpoint, AuditEvent, Organization
from bot.core.storage.db import SessionFactory, transaction
from bot.core.storage.files import FILE_MODE, private_dir

ARCHIVE_DIR = "audit-archive"
PAGE = 1000
Batch = Callable[[], Awaitable[None]]  # called between batches (lets a caller yield or measure)


def _chain(org_id: int | None) -> ColumnElement[bool]:
    return AuditEvent.org_id.is_(None) if org_id is None else AuditEvent.org_id == org_id


def _chain_name(org_id: int | None) -> str:
    return "platform" if org_id is None else f"org-{org_id}"


def _line(row: AuditEvent) -> dict[str, Any]:
    return {"id": row.id, "org_id": row.org_id, "actor_type": row.actor_type,
            "actor_id": None if row.actor_type == "customer" else row.actor_id, "action": row.action,
            "subject_type": row.subject_type, "created_at": row.created_at.isoformat(timespec="microseconds"),
            "prev_hash": row.prev_hash, "hash": row.hash, "personal_digest": row.personal_digest,
            "erased": row.erased_at is not None}


def _line_hash(prev: str, line: dict[str, Any]) -> str:
    return chain_digest(prev, line["org_id"], line["actor_type"], line["actor_id"], line["action"], line["subject_type"],
                        datetime.fromisoformat(line["created_at"]), line["personal_digest"])


@dataclass(frozen=True)
class Segment:
    org_id: int | None
    after_id: int  # the archive so far ends here (0: none)
    head: AuditCheckpoint | None  # the checkpoint that closes the new segment (None: only leftovers to delete)
    rows: int  # events to archive now
    leftovers: int  # archived events still in the database (a run cut short)

    @property
    def removed(self) -> int:
        return self.rows + self.leftovers


async def _chains(session: AsyncSession) -> list[int | None]:
    return [None, *(await session.scalars(select(Organization.id).order_by(Organization.id))).all()]


async def plan_segment(*, session: AsyncSession, org_id: int | None, cutoff: datetime) -> Segment:
    """The newest checkpointed segment of one chain whose head event is older than `cutoff`."""
    archive = await latest_archive(session, org_id)
    after = archive.last_id if archive is not None else 0
    cp_cond = AuditCheckpoint.org_id.is_(None) if org_id is None else AuditCheckpoint.org_id == org_id
    head = await session.scalar(
        select(AuditCheckpoint).join(AuditEvent, AuditEvent.id == AuditCheckpoint.head_id)
        .where(cp_cond, AuditCheckpoint.head_id > after, AuditEvent.created_at < cutoff)
        .order_by(AuditCheckpoint.head_id.desc(), AuditCheckpoint.id.desc()).limit(1))
    rows = 0
    if head is not None:
        rows = int(await session.scalar(select(func.count()).select_from(AuditEvent).where(
            _chain(org_id), AuditEvent.id > after, AuditEvent.id <= head.head_id)) or 0)
    leftovers = 0
    if after:
        leftovers = int(await session.scalar(select(func.count()).select_from(AuditEvent).where(
            _chain(org_id), AuditEvent.id <= after)) or 0)
    return Segment(org_id=org_id, after_id=after, head=head, rows=rows, leftovers=leftovers)


async def plan(*, factory: SessionFactory, cutoff: datetime) -> list[Segment]:
    async with factory() as session:
        return [s for org_id in await _chains(session)
                if (s := await plan_segment(session=session, org_id=org_id, cutoff=cutoff)).removed]


async def _write_file(factory: SessionFactory, data_dir: Path, segment: Segment) -> tuple[Path, str, int, int]:
    """Stream the segment into a new 0600 file; returns (path, sha256, first id, count). Raises if the rows do not
    lead to the checkpointed head (the chain was tampered with: nothing is archived or deleted)."""
    assert segment.head is not None
    async with factory() as session:
        base = await latest_archive(session, segment.org_id)
    prev, total = (base.head_hash, base.total) if base is not None else ("", 0)
    folder = private_dir(data_dir / ARCHIVE_DIR / _chain_name(segment.org_id))
    partial = folder / f".{segment.after_id + 1:012d}-{segment.head.head_id:012d}.part"
    digest, first, count, last_id = hashlib.sha256(), 0, 0, segment.after_id
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        while True:
            async with factory() as session:
                rows = (await session.scalars(select(AuditEvent).where(
                    _chain(segment.org_id), AuditEvent.id > last_id, AuditEvent.id <= segment.head.head_id)
                    .order_by(AuditEvent.id).limit(PAGE))).all()
            if not rows:
                break
            for row in rows:
                line = _line(row)
                if line["prev_hash"] != prev or _line_hash(prev, line) != line["hash"]:
                    partial.unlink(missing_ok=True)
                    raise ValueError(f"audit chain {_chain_name(segment.org_id)}: event {row.id} does not verify; not archived")
                data = (json.dumps(line, sort_keys=True) + "\n").encode()
                handle.write(data)
                digest.update(data)
                prev, last_id, count, first = line["hash"], row.id, count + 1, first or row.id
        handle.flush()
        os.fsync(handle.fileno())
    if prev != segment.head.head_hash or total + count != segment.head.count:
        partial.unlink(missing_ok=True)
        raise ValueError(f"audit chain {_chain_name(segment.org_id)}: the rows do not lead to checkpoint"
                         f" {segment.head.id}; not archived")
    final = folder / f"{first:012d}-{segment.head.head_id:012d}.jsonl"
    partial.replace(final)
    return final, digest.hexdigest(), first, count


async def archive_segment(*, factory: SessionFactory, data_dir: Path, segment: Segment, batch_size: int,
                          between: Batch | None = None) -> int:
    """Archive one planned segment (file, then record) and delete what the archive covers, a batch per transaction.
    Returns the events deleted from the database."""
    if segment.head is not None and segment.rows:
        path, sha, first, count = await _write_file(factory, data_dir, segment)
        async with transaction(factory) as session:
            base = await latest_archive(session, segment.org_id)
            session.add(AuditArchive(
                org_id=segment.org_id, first_id=first, last_id=segment.head.head_id, count=count,
                total=(base.total if base is not None else 0) + count, head_hash=segment.head.head_hash,
                path=str(path.relative_to(data_dir)), sha256=sha, created_at=now()))
    async with factory() as session:
        archive = await latest_archive(session, segment.org_id)
    if archive is None:
        return 0
    removed = 0
    while True:
        async with transaction(factory) as session:
            ids = select(AuditEvent.id).where(_chain(segment.org_id), AuditEvent.id <= archive.last_id) \
                .order_by(AuditEvent.id).limit(batch_size).scalar_subquery()
            result = await session.execute(delete(AuditEvent).where(AuditEvent.id.in_(ids)))
            done = int(result.rowcount or 0)  # type: ignore[attr-defined]
        removed += done
        if done < batch_size:
            return removed
        if between is not None:
            await between()


def verify_archive_file(data_dir: Path, archive: AuditArchive, prev_head: str) -> str:
    """Check one archive file on its own: checksum, chain from the previous archive's head to this one's. Returns a
    problem ("" when it verifies)."""
    path = data_dir / archive.path
    if not path.is_file():
        return f"archive file {archive.path} is missing"
    content = path.read_bytes()
    if hashlib.sha256(content).hexdigest() != archive.sha256:
        return f"archive file {archive.path} was altered (checksum)"
    prev, count = prev_head, 0
    for raw in content.splitlines():
        line = json.loads(raw)
        if line["prev_hash"] != prev or _line_hash(prev, line) != line["hash"]:
            return f"archive file {archive.path}: event {line['id']} does not verify"
        prev, count = line["hash"], count + 1
    if prev != archive.head_hash or count != archive.count:
        return f"archive file {archive.path} does not end at the recorded head"
    return ""


async def verify_archives(*, session: AsyncSession, data_dir: Path, org_id: int | None) -> tuple[int, str]:
    """Every archive of one chain, oldest first: (events in files, first problem or "")."""
    cond = AuditArchive.org_id.is_(None) if org_id is None else AuditArchive.org_id == org_id
    prev, events = "", 0
    for archive in (await session.scalars(select(AuditArchive).where(cond).order_by(AuditArchive.last_id))).all():
        problem = verify_archive_file(data_dir, archive, prev)
        if problem:
            return events, problem
        prev, events = archive.head_hash, events + archive.count
    return events, ""


async def chains(*, factory: SessionFactory) -> list[int | None]:
    async with factory() as session:
        return await _chains(session)
