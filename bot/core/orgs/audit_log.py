"""Reading an organization's audit log: filters (actor, customer, action, time), keyset pages, CSV rows.

Read-only: this module never writes audit rows (bot/core/audit.py owns the chain); callers record the
viewing itself. Always scoped to one organization.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.errors import InvalidInput
from bot.core.orgs.models import Agent, AuditEvent

# A filter's refusals by field (one catalogue key each, so the field's name is translated with its sentence).
NOT_A_NUMBER = {"actor": "actor: a number", "customer": "customer: a number"}
NOT_A_MOMENT = {"since": "since: a date or date and time (YYYY-MM-DD or YYYY-MM-DDTHH:MM)",
                "until": "until: a date or date and time (YYYY-MM-DD or YYYY-MM-DDTHH:MM)"}
CSV_COLUMNS = ("id", "created_at", "actor_type", "actor_id", "actor", "action", "subject_type", "subject_id", "detail", "hash")


@dataclass(frozen=True)
class AuditFilter:
    actor_id: int | None = None
    customer_id: int | None = None
    action: str = ""
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def parse(cls, query: dict[str, str]) -> AuditFilter:
        """From query-string values; a bad value is InvalidInput naming the field."""

        def number(key: str) -> int | None:
            raw = query.get(key, "").strip()
            if not raw:
                return None
            if not raw.isdigit():
                raise InvalidInput(NOT_A_NUMBER[key])
            return int(raw)

        def moment(key: str) -> datetime | None:
            raw = query.get(key, "").strip()
            if not raw:
                return None
            try:
                return datetime.fromisoformat(raw).replace(tzinfo=None)
            except ValueError:
                raise InvalidInput(NOT_A_MOMENT[key]) from None

        action = query.get("action", "").strip()[:60]
        return cls(actor_id=number("actor"), customer_id=number("customer"), action=action, since=moment("since"),
                   until=moment("until"))


def _query(org_id: int, f: AuditFilter) -> Select[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.org_id == org_id)
    if f.actor_id is not None:
        query = query.where(AuditEvent.actor_id == f.actor_id)
    if f.customer_id is not None:
        query = query.where(AuditEvent.subject_type == "customer", AuditEvent.subject_id == f.customer_id)
    if f.action:
        query = query.where(AuditEvent.action == f.action)
    if f.since is not None:
        query = query.where(AuditEvent.created_at >= f.since)
    if f.until is not None:
        query = query.where(AuditEvent.created_at < f.until)
    return query


async def list_events(
    *, session: AsyncSession, org_id: int, audit_filter: AuditFilter, before_id: int | None = None, limit: int = 100
) -> list[AuditEvent]:
    """Newest first; `before_id` pages on."""
    query = _query(org_id, audit_filter)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return list(await session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit)))


async def list_actions(*, session: AsyncSession, org_id: int) -> list[str]:
    return list(await session.scalars(select(AuditEvent.action).where(AuditEvent.org_id == org_id).distinct().order_by(AuditEvent.action)))


async def actor_names(*, session: AsyncSession, org_id: int) -> dict[int, str]:
    rows = await session.execute(select(Agent.id, Agent.name).where(Agent.org_id == org_id))
    return {agent_id: name for agent_id, name in rows}


async def csv_chunks(*, session: AsyncSession, org_id: int, audit_filter: AuditFilter, page: int = 1000) -> AsyncIterator[str]:
    """The filtered log as CSV, oldest first, in pages (never the whole log in memory)."""
    names = await actor_names(session=session, org_id=org_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    last_id = 0
    while True:
        query = _query(org_id, audit_filter).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(page)
        rows = (await session.scalars(query)).all()
        for e in rows:
            actor = names.get(e.actor_id or 0, "") if e.actor_type == "agent" else ""
            writer.writerow([e.id, e.created_at.isoformat(timespec="seconds"), e.actor_type, e.actor_id or "", _safe(actor),
                             e.action, e.subject_type, e.subject_id or "", json.dumps(e.detail, sort_keys=True, default=str),
                             e.hash])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < page:
            return
        last_id = rows[-1].id


def _safe(value: str) -> str:
    """No formula injection when the CSV is opened in a spreadsheet."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value
