"""Append-only audit log, hash-chained per organization, so an edited or removed row is detectable."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.clock import now
from bot.core.models import AuditEvent


def _digest(prev_hash: str, event: AuditEvent) -> str:
    body = json.dumps(
        [
            prev_hash,
            event.org_id,
            event.actor_type,
            event.actor_id,
            event.action,
            event.subject_type,
            event.subject_id,
            event.detail,
            event.created_at.isoformat(timespec="microseconds"),
        ],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


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
    prev = await session.scalar(
        select(AuditEvent.hash).where(AuditEvent.org_id.is_(org_id) if org_id is None else AuditEvent.org_id == org_id)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    event = AuditEvent(
        org_id=org_id,
        actor_type=actor_type,
        actor_id=actor_id,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        detail=detail or {},
        created_at=now(),
        prev_hash=prev or "",
    )
    event.hash = _digest(event.prev_hash, event)
    session.add(event)
    await session.flush()
    return event


@dataclass(frozen=True)
class ChainReport:
    checked: int
    broken_at: int | None

    @property
    def ok(self) -> bool:
        return self.broken_at is None


async def verify_chain(*, session: AsyncSession, org_id: int | None) -> ChainReport:
    """Walk one organization's chain in id order, in pages; report the first row that does not fit."""
    prev = ""
    checked = 0
    last_id = 0
    cond = AuditEvent.org_id.is_(None) if org_id is None else AuditEvent.org_id == org_id
    while True:
        rows = (
            await session.scalars(select(AuditEvent).where(cond, AuditEvent.id > last_id).order_by(AuditEvent.id).limit(1000))
        ).all()
        if not rows:
            return ChainReport(checked=checked, broken_at=None)
        for row in rows:
            if row.prev_hash != prev or row.hash != _digest(prev, row):
                return ChainReport(checked=checked, broken_at=row.id)
            prev = row.hash
            checked += 1
            last_id = row.id
