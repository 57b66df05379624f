"""Changing a work order: status (with the allowed transitions), priority, assignee, notes, replies.

Each change recomputes the SLA columns, appends a history event (audited) and, when the customer
should know, tells them on their channel. A transition that is not allowed is a Conflict (409)
naming the allowed ones.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.core.common.clock import now
from bot.core.common.errors import Conflict, InvalidInput, NotFound
from bot.core.orgs.models import Agent
from bot.core.work_orders import sla
from bot.core.work_orders.models import WorkOrder, week_of
from bot.core.work_orders.notices import tell_customer, tell_status
from bot.core.work_orders.rollup import count_duration
from bot.core.work_orders.services import check_priority, log_event

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("open", "pending", "resolved"),
    "open": ("pending", "resolved"),
    "pending": ("open", "resolved"),
    "resolved": ("open", "closed"),
    "closed": ("open",),
}
MAX_TEXT = 4000
# A note's or a reply's refusals (one catalogue key each, so "note" or "reply" is translated with its sentence).
EMPTY = {"note": "note: write something first", "reply": "reply: write something first"}
TOO_LONG = {"note": "note: at most %(limit)s characters", "reply": "reply: at most %(limit)s characters"}


def allowed(status: str) -> tuple[str, ...]:
    return TRANSITIONS.get(status, ())


async def change_status(
    *, session: AsyncSession, settings: Settings, order: WorkOrder, status: str, agent: Agent | None
) -> WorkOrder:
    if status not in TRANSITIONS:
        raise InvalidInput("status: one of %(choices)s", choices=", ".join(TRANSITIONS))
    if status not in allowed(order.status):
        raise Conflict("%(order)s is %(status)s; it can go to: %(allowed)s", order=order.label, status=order.status,
                       allowed=", ".join(allowed(order.status)))
    cal = await sla.calendar_for(session=session, settings=settings, org_id=order.org_id)
    stamp, fraction = now(), sla.risk_fraction(settings.sla)
    before = order.status
    if status == "pending":
        sla.pause(order, cal, stamp)
    elif status == "open" and before == "pending":
        sla.resume(order, cal, stamp, fraction)
    elif status == "open":  # reopened: its resolution no longer counts
        await _uncount(session, order)
        sla.restart_after_stop(order, cal, stamp, fraction)
        order.resolved_at = order.closed_at = order.resolved_week = order.resolution_seconds = None
    elif status == "resolved":
        sla.stop(order, cal, stamp)
        order.resolved_at, order.resolved_week = stamp, week_of(stamp)
        order.resolution_seconds = int((stamp - order.created_at).total_seconds())
        order.credited_agent_id = order.assignee_id
        await count_duration(session=session, org_id=order.org_id, week=order.resolved_week, metric="resolution",
                             agent_id=order.assignee_id, seconds=order.resolution_seconds, met=bool(order.sla_met))
    elif status == "closed":
        order.closed_at = stamp
    order.status = status
    await log_event(session=session, order=order, actor_type="agent" if agent else "system",
                    actor_id=agent.id if agent else None, kind="status", before=before, after=status)
    await tell_status(session=session, order=order)
    return order


async def _uncount(session: AsyncSession, order: WorkOrder) -> None:
    if order.resolved_week is not None and order.resolution_seconds is not None:
        await count_duration(session=session, org_id=order.org_id, week=order.resolved_week, metric="resolution",
                             agent_id=order.credited_agent_id, seconds=order.resolution_seconds, met=bool(order.sla_met), sign=-1)
    order.credited_agent_id = None


async def change_priority(
    *, session: AsyncSession, settings: Settings, order: WorkOrder, priority: str, agent: Agent
) -> WorkOrder:
    check_priority(priority)
    if priority == order.priority:
        return order
    if order.status in ("new", "open", "pending"):
        cal = await sla.calendar_for(session=session, settings=settings, org_id=order.org_id)
        sla.retarget(order, cal, now(), settings.sla.resolution_minutes[priority],
                     sla.risk_fraction(settings.sla))
    before, order.priority = order.priority, priority
    await log_event(session=session, order=order, actor_type="agent", actor_id=agent.id, kind="priority",
                    before=before, after=priority)
    return order


async def assign_work_order(*, session: AsyncSession, order: WorkOrder, assignee_id: int | None, agent: Agent) -> WorkOrder:
    if assignee_id is not None:
        assignee = await session.get(Agent, assignee_id)
        if assignee is None or assignee.org_id != order.org_id or not assignee.active:
            raise NotFound("no such agent")
    before, order.assignee_id = order.assignee_id, assignee_id
    await log_event(session=session, order=order, actor_type="agent", actor_id=agent.id, kind="assign",
                    before=before, after=assignee_id)
    return order


def _text(text: str, what: str) -> str:
    text = text.strip()
    if not text:
        raise InvalidInput(EMPTY[what])
    if len(text) > MAX_TEXT:
        raise InvalidInput(TOO_LONG[what], limit=MAX_TEXT)
    return text


async def add_work_order_note(*, session: AsyncSession, order: WorkOrder, agent: Agent, text: str) -> None:
    """Internal: never sent to the customer."""
    await log_event(session=session, order=order, actor_type="agent", actor_id=agent.id, kind="note",
                    text=_text(text, "note"))


async def reply_on_work_order(*, session: AsyncSession, order: WorkOrder, agent: Agent, text: str) -> None:
    text = _text(text, "reply")
    if order.conversation_id is None:
        raise Conflict("%(order)s has no conversation to reply in", order=order.label)
    await tell_customer(session=session, conversation_id=order.conversation_id, text_name="ticket_reply",
                        agent_id=agent.id, label=order.label, text=text)
    await log_event(session=session, order=order, actor_type="agent", actor_id=agent.id, kind="reply", text=text)
