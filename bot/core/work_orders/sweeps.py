"""The SLA sweep: keep conversation clocks in step, then announce every at-risk and breach crossing once.

Crossings are found by `next_alert_at <= now` (an index range); each is raised with a dedup key per
item, crossing and due time, so a restart, a doubled run or a second process never pushes twice,
and a due time moved by a priority change is a new target with its own pushes.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.core.common.clock import now
from bot.core.notifications.fanout import NotificationKind, raise_event
from bot.core.storage.db import SessionFactory, transaction
from bot.core.work_orders import sla
from bot.core.work_orders.clocks import BATCH as BATCH_CLOCKS
from bot.core.work_orders.clocks import follow_conversations, start_new_clocks
from bot.core.work_orders.models import ConversationClock, WorkOrder

if TYPE_CHECKING:
    from bot.context import AppContext

log = logging.getLogger(__name__)
BATCH = 500
RECENT = timedelta(minutes=10)  # incremental passes look back this far (and three sweep intervals more)
FULL_EVERY = 20  # every 20th pass is a full one


def _crossing(row: WorkOrder | ConversationClock, stamp: datetime) -> str:
    return "breach" if row.due_at is not None and row.due_at <= stamp else "risk"


async def _announce(session: AsyncSession, row: WorkOrder | ConversationClock, stamp: datetime, settings: Settings) -> bool:
    crossing = _crossing(row, stamp)
    assert row.due_at is not None
    due = row.due_at.isoformat(timespec="seconds")
    kind = NotificationKind.SLA_BREACHED if crossing == "breach" else NotificationKind.SLA_AT_RISK
    if isinstance(row, WorkOrder):
        subject, subject_id, url = "work_order", row.id, f"/workbench/work-orders/{row.number}"
        title = f"{row.label} ({row.priority}) resolution due {due} UTC"
        key = f"sla_{crossing}:wo:{row.id}:{due}"
    else:
        subject, subject_id, url = "conversation", row.conversation_id, f"/workbench/conversations/{row.conversation_id}"
        title = f"Conversation #{row.conversation_id} {row.kind} response due {due} UTC"
        key = f"sla_{crossing}:conv:{row.id}:{due}"
    _, created = await raise_event(
        session=session, org_id=row.org_id, kind=kind, subject_type=subject, subject_id=subject_id, title=title, url=url,
        dedup_key=key, detail={"due_at": due, "crossing": crossing}, settings=settings,
    )
    sla.mark_crossed(row, crossing)
    return created


async def _alerts(factory: SessionFactory, model: type[WorkOrder] | type[ConversationClock], settings: Settings) -> int:
    raised = 0
    while True:
        stamp = now()
        async with transaction(factory) as session:
            query = select(model).where(model.next_alert_at <= stamp).order_by(model.next_alert_at, model.id).limit(BATCH)
            rows: list[WorkOrder | ConversationClock] = list(await session.scalars(query))
            for row in rows:
                raised += await _announce(session, row, stamp, settings)
        if len(rows) < BATCH:
            return raised


async def sweep_sla(*, factory: SessionFactory, settings: Settings, full: bool = True) -> int:
    """One pass; returns the number of new pushes raised. `full` False looks only at conversations active in
    the last RECENT (plus three sweep intervals): what the scheduler runs between full passes."""
    stamp = now()
    since = None if full else stamp - RECENT - timedelta(seconds=3 * settings.sla.sweep_seconds)
    while True:
        async with transaction(factory) as session:
            started = await start_new_clocks(session=session, settings=settings, stamp=stamp, since=since)
            followed = await follow_conversations(session=session, settings=settings, stamp=stamp, since=since)
        if started < BATCH_CLOCKS and followed < BATCH_CLOCKS:
            break
    return await _alerts(factory, WorkOrder, settings) + await _alerts(factory, ConversationClock, settings)


def install(ctx: AppContext) -> None:
    """Register the sweep on the shared scheduler. Called once from build_context."""
    settings = ctx.settings
    if not settings.sla.enabled:
        return

    runs = [0]

    async def run() -> None:
        full = runs[0] % FULL_EVERY == 0  # the first run of each process, then now and then
        runs[0] += 1
        if await sweep_sla(factory=ctx.factory, settings=settings, full=full):
            ctx.dispatcher.wake()

    ctx.services["scheduler"].every("sla.sweep", settings.sla.sweep_seconds, run)
