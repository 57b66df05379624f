"""The SLA sweep: keep conversation clocks in step, then announce every at-risk and breach crossing once.

Crossings are found by `next_alert_at <= now` (an index range); each is raised with a dedup key per
item, crossing and due time, so a restart, a doubled run or a second process never pushes twice,
and a due time moved by a priority change is a new target with its own pushes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, select, update

from bot.config import Settings
from bot.core.common.clock import now
from bot.core.notifications.fanout import EventSpec, NotificationKind, raise_events
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


def _crossing(due_at: datetime, stamp: datetime) -> str:
    return "breach" if due_at <= stamp else "risk"


def _event(model: type[WorkOrder] | type[ConversationClock], row: Row[Any], crossing: str) -> EventSpec:
    due = row.due_at.isoformat(timespec="seconds")
    kind = NotificationKind.SLA_BREACHED if crossing == "breach" else NotificationKind.SLA_AT_RISK
    if model is WorkOrder:
        label = f"WO-{row.number:06d}"
        return EventSpec(org_id=row.org_id, kind=kind, subject_type="work_order", subject_id=row.id,
                         title=f"{label} ({row.priority}) resolution due {due} UTC", url=f"/workbench/work-orders/{row.number}",
                         dedup_key=f"sla_{crossing}:wo:{row.id}:{due}", detail={"due_at": due, "crossing": crossing})
    return EventSpec(org_id=row.org_id, kind=kind, subject_type="conversation", subject_id=row.conversation_id,
                     title=f"Conversation #{row.conversation_id} {row.kind} response due {due} UTC",
                     url=f"/workbench/conversations/{row.conversation_id}",
                     dedup_key=f"sla_{crossing}:conv:{row.id}:{due}", detail={"due_at": due, "crossing": crossing})


def _columns(model: type[WorkOrder] | type[ConversationClock]) -> list[Any]:
    common = [model.id, model.org_id, model.due_at, model.risk_at, model.breach_notified]
    if model is WorkOrder:
        return [*common, WorkOrder.number, WorkOrder.priority]
    return [*common, ConversationClock.conversation_id, ConversationClock.kind]


async def _alerts(factory: SessionFactory, model: type[WorkOrder] | type[ConversationClock], settings: Settings) -> int:
    """Announce every crossing due by now: plain rows of the few columns needed (an index range on next_alert_at),
    the events raised as one batch, the rows' flags written back by primary key in one executemany."""
    raised = 0
    while True:
        stamp = now()
        async with transaction(factory) as session:
            query = select(*_columns(model)).where(model.next_alert_at <= stamp).order_by(model.next_alert_at, model.id).limit(BATCH)
            rows = (await session.execute(query)).all()
            events, changes = [], []
            for row in rows:
                crossing = _crossing(row.due_at, stamp)
                events.append(_event(model, row, crossing))
                breach = crossing == "breach" or row.breach_notified
                changes.append({"id": row.id, "risk_notified": True, "breach_notified": breach,
                                "next_alert_at": sla.alert_after(row.due_at, row.risk_at, True, breach)})
            raised += await raise_events(session=session, events=events, settings=settings)
            if changes:
                await session.execute(update(model), changes)
        if len(rows) < BATCH:
            return raised


async def sweep_sla(*, factory: SessionFactory, settings: Settings, full: bool = True) -> int:
    """One pass; returns the number of new pushes raised. `full` False looks only at conversations active in
    the last RECENT (plus three sweep intervals): what the scheduler runs between full passes."""
    stamp = now()
    since = None if full else stamp - RECENT - timedelta(seconds=3 * settings.sla.sweep_seconds)
    after: dict[tuple[int, str], tuple[datetime, int]] = {}  # the pass goes on where its last transaction stopped
    following = True
    while True:
        began = time.monotonic()
        async with transaction(factory) as session:
            started = await start_new_clocks(session=session, settings=settings, stamp=stamp, since=since, after=after)
            # Clocks out of step are read from every running clock: once a transaction has found fewer than a batch,
            # the pass has them all, and the transactions still starting clocks do not read them all again.
            followed = await follow_conversations(session=session, settings=settings, stamp=stamp, since=since) if following else 0
        following = following and followed >= BATCH_CLOCKS
        if started < BATCH_CLOCKS and followed < BATCH_CLOCKS:
            break
        # A burst's clocks wait: a clock's due time counts from when its customer started waiting, however late it is
        # written. Resting as long as each transaction took leaves live traffic half of the event loop: back to back,
        # the 5,000 clocks of a 5,000-chat burst took a whole core for 1.2 s, and webhook answers waited behind them.
        await asyncio.sleep(time.monotonic() - began)
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
