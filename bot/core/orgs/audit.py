"""Append-only audit log, hash-chained per organization, so an edited or removed row is detectable.

Each row's hash covers the previous hash, the row's non-personal columns and `personal_digest`: a salted
SHA-256 of its personal part (subject_id, detail, and actor_id when the actor is a customer). Erasure
(`erase_personal_parts`) blanks the personal part and the salt and stamps `erased_at`; the chain still
verifies and the row is reported as erased. Any other change breaks the chain at that row. A checkpoint of
each chain's head (`audit_checkpoints`), written on every verify and by a daily sweep, makes deleting the
newest rows detectable too. The database refuses other UPDATEs and all DELETEs (triggers of migration 0500)
except of rows an archive covers: retention (`audit_archive.py`) moves whole checkpointed segments out to a
file and records where the chain left in the database continues (`audit_archives`), so verification starts
from that archive's head hash and counts its events.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.clock import now
from bot.core.orgs.models import AuditArchive, AuditCheckpoint, AuditEvent


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def personal_digest(salt: str, actor_type: str, actor_id: int | None, subject_id: int | None, detail: dict[str, Any]) -> str:
    personal_actor = actor_id if actor_type == "customer" else None
    return hashlib.sha256(_canonical([salt, personal_actor, subject_id, detail]).encode()).hexdigest()


def chain_digest(
    prev_hash: str, org_id: int | None, actor_type: str, actor_id: int | None, action: str, subject_type: str,
    created_at: datetime, digest_of_personal: str,
) -> str:
    public_actor = None if actor_type == "customer" else actor_id
    body = _canonical(
        [prev_hash, org_id, actor_type, public_actor, action, subject_type,
         created_at.isoformat(timespec="microseconds"), digest_of_personal]
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _row_hash(prev: str, event: AuditEvent) -> str:
    return chain_digest(prev, event.org_id, event.actor_type, event.actor_id, event.action, event.subject_type,
                        event.created_at, event.personal_digest)


def _org_cond(org_id: int | None) -> ColumnElement[bool]:
    return AuditEvent.org_id.is_(None) if org_id is None else AuditEvent.org_id == org_id


async def latest_archive(session: AsyncSession, org_id: int | None) -> AuditArchive | None:
    """Where the chain left in the database starts (None: it was never archived, it starts at "")."""
    cond = AuditArchive.org_id.is_(None) if org_id is None else AuditArchive.org_id == org_id
    return await session.scalar(select(AuditArchive).where(cond).order_by(AuditArchive.last_id.desc()).limit(1))


async def _lock_chain(session: AsyncSession, org_id: int | None) -> None:
    # PostgreSQL: serialize appends to one org's chain across processes; SQLite writes serialize anyway.
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(7331, :org)"), {"org": org_id or 0})


async def record(
    *,
    session: AsyncSession,
    org_id: int | None,
    actor_type: str,
    actor_id: int | None,
    action: str,
    subject_type: str = "",
    subject_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    await _lock_chain(session, org_id)
    prev = await session.scalar(select(AuditEvent.hash).where(_org_cond(org_id)).order_by(AuditEvent.id.desc()).limit(1))
    if prev is None:  # an empty chain: it may continue an archived segment
        archive = await latest_archive(session, org_id)
        prev = archive.head_hash if archive is not None else ""
    salt = secrets.token_hex(16)
    event = AuditEvent(
        org_id=org_id, actor_type=actor_type, actor_id=actor_id, action=action, subject_type=subject_type,
        subject_id=subject_id, detail=detail or {}, created_at=now(), prev_hash=prev or "", personal_salt=salt,
    )
    event.personal_digest = personal_digest(salt, actor_type, actor_id, subject_id, event.detail)
    event.hash = _row_hash(event.prev_hash, event)
    session.add(event)
    await session.flush()
    return event


async def erase_personal_parts(*, session: AsyncSession, org_id: int, condition: ColumnElement[bool]) -> int:
    """Blank the personal part of the matching rows of one organization; the only UPDATE the guard allows."""
    await session.flush()
    blank_actor = {"actor_id": None}
    base = [AuditEvent.org_id == org_id, AuditEvent.erased_at.is_(None), condition]
    stamp = now()
    result = await session.execute(
        update(AuditEvent).where(*base, AuditEvent.actor_type == "customer")
        .values(subject_id=None, detail={}, personal_salt="", erased_at=stamp, **blank_actor)
        .execution_options(synchronize_session=False)
    )
    erased = int(result.rowcount or 0)  # type: ignore[attr-defined]
    result = await session.execute(
        update(AuditEvent).where(*base).values(subject_id=None, detail={}, personal_salt="", erased_at=stamp)
        .execution_options(synchronize_session=False)
    )
    return erased + int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ChainReport:
    checked: int
    broken_at: int | None
    erased: int = 0
    problem: str = ""
    archived: int = 0  # events before the database's part of the chain, in archive files

    @property
    def total(self) -> int:
        return self.archived + self.checked

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def _row_problem(prev: str, row: AuditEvent) -> str:
    if row.prev_hash != prev:
        return "does not follow the previous event (a row before it was removed or reordered)"
    if row.erased_at is not None:
        if row.subject_id is not None or row.detail or row.personal_salt or (row.actor_type == "customer" and row.actor_id):
            return "is marked erased but still holds a personal part"
    elif row.personal_digest != personal_digest(row.personal_salt, row.actor_type, row.actor_id, row.subject_id, row.detail):
        return "personal part was altered"
    if row.hash != _row_hash(prev, row):
        return "was altered"
    return ""


async def verify_chain(*, session: AsyncSession, org_id: int | None) -> ChainReport:
    """Walk one organization's chain in id order, in pages; report the first row that does not fit, and
    a head missing against the latest checkpoint (newest rows deleted)."""
    archive = await latest_archive(session, org_id)
    prev, checked, erased, last_id = "", 0, 0, 0
    archived = 0
    seen: dict[int, str] = {}
    if archive is not None:
        prev, last_id, archived = archive.head_hash, archive.last_id, archive.total
        seen[archive.last_id] = archive.head_hash
    checkpoint = await session.scalar(
        select(AuditCheckpoint).where(
            AuditCheckpoint.org_id.is_(None) if org_id is None else AuditCheckpoint.org_id == org_id
        ).order_by(AuditCheckpoint.id.desc()).limit(1)
    )
    while True:
        rows = (
            await session.scalars(select(AuditEvent).where(_org_cond(org_id), AuditEvent.id > last_id).order_by(AuditEvent.id).limit(1000))
        ).all()
        if not rows:
            break
        for row in rows:
            problem = _row_problem(prev, row)
            if problem:
                return ChainReport(checked=checked, broken_at=row.id, erased=erased, problem=problem, archived=archived)
            if checkpoint is not None and row.id == checkpoint.head_id:
                seen[row.id] = row.hash
            prev, last_id = row.hash, row.id
            checked += 1
            erased += row.erased_at is not None
    if checkpoint is not None and (seen.get(checkpoint.head_id) != checkpoint.head_hash or archived + checked < checkpoint.count):
        return ChainReport(checked=checked, broken_at=checkpoint.head_id, erased=erased, archived=archived,
                           problem=f"checkpointed head is missing: {checkpoint.count} events were recorded,"
                                   f" {archived + checked} remain")
    return ChainReport(checked=checked, broken_at=None, erased=erased, archived=archived)


async def write_checkpoint(
    *, session: AsyncSession, org_id: int | None, report: ChainReport | None = None
) -> AuditCheckpoint | None:
    """Checkpoint the current head of an intact chain (nothing is written for a broken or empty one)."""
    report = report or await verify_chain(session=session, org_id=org_id)
    head = await session.scalar(select(AuditEvent).where(_org_cond(org_id)).order_by(AuditEvent.id.desc()).limit(1))
    if not report.ok or head is None:
        return None
    checkpoint = AuditCheckpoint(org_id=org_id, head_id=head.id, head_hash=head.hash, count=report.total, created_at=now())
    session.add(checkpoint)
    await session.flush()
    return checkpoint


async def checkpoint_all(*, session: AsyncSession) -> int:
    """The daily sweep: verify every chain and checkpoint each intact head. Returns how many were written."""
    from bot.core.orgs.models import Organization

    written = 0
    for org_id in [None, *(await session.scalars(select(Organization.id))).all()]:
        written += await write_checkpoint(session=session, org_id=org_id) is not None
    return written
