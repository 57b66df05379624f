"""Reminders of rights-request deadlines: received, N days left (privacy.reminder_days), due today, overdue.

The sweep reads `due_at` from the database and raises each reminder once: the dedup key names the request,
the threshold and the due date, so a second run, another process or a restart raises nothing new, and an
extended deadline gets its own reminders. Admins get every push (notification preferences apply); the
assignee also gets it in the workbench list.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.core.business_time.orgs import org_calendars
from bot.core.common.clock import now
from bot.core.notifications.fanout import NotificationKind, raise_event
from bot.core.notifications.models import NotificationPush
from bot.core.rights.deadline import days_left
from bot.core.rights.models import RightsRequest
from bot.core.rights.requests import OPEN, request_number
from bot.core.storage.db import SessionFactory, transaction


async def _raise(session: AsyncSession, settings: Settings, request: RightsRequest, kind: NotificationKind, key: str,
                 title: str, left: int | None) -> bool:
    detail: dict[str, object] = {"number": request_number(request), "kind": request.kind}
    if left is not None:
        detail["days_left"] = max(left, 0)
    event, created = await raise_event(
        session=session, org_id=request.org_id, kind=kind, subject_type="rights_request", subject_id=request.id,
        title=title, url=f"/workbench/rights/{request.id}", dedup_key=key, detail=detail, settings=settings)
    if created and request.assignee_id is not None:
        exists = await session.scalar(select(NotificationPush.id).where(
            NotificationPush.event_id == event.id, NotificationPush.target_kind == "workbench",
            NotificationPush.address == str(request.assignee_id)))
        if exists is None:
            session.add(NotificationPush(org_id=request.org_id, event_id=event.id, agent_id=request.assignee_id,
                                         target_kind="workbench", address=str(request.assignee_id), state="delivered"))
            await session.flush()
    return created


async def raise_received(*, session: AsyncSession, settings: Settings, request: RightsRequest) -> bool:
    due = request.due_at.strftime("%Y-%m-%d %H:%M UTC") if request.due_at else "—"
    return await _raise(session, settings, request, NotificationKind.RIGHTS_REQUEST_RECEIVED, f"rights_received:{request.id}",
                        f"{request_number(request)} ({request.kind.replace('_', ' ')}), due {due}", None)


def threshold(settings: Settings, left: int) -> int | None:
    """The reminder due at `left` days: the smallest configured threshold >= left, 0 on the due day, -1 overdue."""
    if left < 0:
        return -1
    if left == 0:
        return 0
    fitting = [days for days in settings.privacy.reminder_days if left <= days]
    return min(fitting) if fitting else None


async def sweep_reminders(*, factory: SessionFactory, settings: Settings) -> int:
    horizon = now() + timedelta(days=max(settings.privacy.reminder_days, default=0) + 1)
    raised = 0
    async with transaction(factory) as session:
        rows = (await session.scalars(select(RightsRequest).where(
            RightsRequest.status.in_(OPEN), RightsRequest.due_at.is_not(None), RightsRequest.due_at <= horizon,
        ).order_by(RightsRequest.due_at))).all()
        calendars = await org_calendars(session=session, settings=settings, org_ids=[r.org_id for r in rows])
        for request in rows:
            assert request.due_at is not None
            if request.status == "awaiting_customer":
                continue  # the clock is paused
            left = days_left(calendars[request.org_id], now(), request.due_at)
            step = threshold(settings, left)
            if step is None:
                continue
            stamp = request.due_at.isoformat()
            number = request_number(request)
            if step < 0:
                raised += await _raise(session, settings, request, NotificationKind.RIGHTS_REQUEST_OVERDUE,
                                       f"rights_overdue:{request.id}:{stamp}", f"{number} was due {stamp[:10]}", None)
            else:
                raised += await _raise(session, settings, request, NotificationKind.RIGHTS_REQUEST_DUE_SOON,
                                       f"rights_due:{request.id}:{step}:{stamp}", f"{number} ({request.kind.replace('_', ' ')})", step)
    return raised
