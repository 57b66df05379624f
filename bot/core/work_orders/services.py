"""Opening, finding and listing work orders. Tenant-checked: another organization's number is a 404.

Opening raises `work_order_new` once (dedup key per order), starts the resolution clock and writes
the first history event and an audit entry, all in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import PRIORITIES, Settings
from bot.core.common.clock import now
from bot.core.common.errors import InvalidInput, NotFound
from bot.core.conversations.models import Conversation, Customer
from bot.core.notifications.fanout import NotificationKind, raise_event
from bot.core.orgs.audit import record
from bot.core.orgs.switches import WORK_ORDERS, require_on
from bot.core.work_orders import sla
from bot.core.work_orders.models import WorkOrder, WorkOrderEvent
from bot.core.work_orders.numbering import insert_numbered, parse_label

ACTIVE = ("new", "open", "pending")
STATUSES = ("new", "open", "pending", "resolved", "closed")
# The kinds of a work order's history event (`log_event`), each audited as work_order_<kind>.
EVENT_KINDS = ("created", "status", "priority", "assign", "note", "reply", "csat")
MAX_DESCRIPTION = 4000


def check_category(settings: Settings, category: str) -> str:
    if category not in settings.sla.categories:
        raise InvalidInput("category: unknown %(category)s; choose one of %(choices)s", category=repr(category[:40]),
                           choices=", ".join(settings.sla.categories))
    return category


def check_description(text: str) -> str:
    text = text.strip()
    if not text:
        raise InvalidInput("description: describe the problem in a few words")
    if len(text) > MAX_DESCRIPTION:
        raise InvalidInput("description: at most %(limit)s characters", limit=MAX_DESCRIPTION)
    return text


def check_priority(priority: str) -> str:
    if priority not in PRIORITIES:
        raise InvalidInput("priority: one of %(choices)s", choices=", ".join(PRIORITIES))
    return priority


async def log_event(
    *, session: AsyncSession, order: WorkOrder, actor_type: str, actor_id: int | None, kind: str, **detail: object
) -> WorkOrderEvent:
    event = WorkOrderEvent(org_id=order.org_id, work_order_id=order.id, actor_type=actor_type, actor_id=actor_id,
                           kind=kind, detail=dict(detail))
    session.add(event)
    order.updated_at = now()
    await record(session=session, org_id=order.org_id, actor_type=actor_type, actor_id=actor_id,
                 action=f"work_order_{kind}", subject_type="work_order", subject_id=order.id,
                 detail={"number": order.label, **{k: v for k, v in detail.items() if k != "text"}})
    return event


async def open_work_order(
    *,
    session: AsyncSession,
    settings: Settings,
    customer: Customer,
    category: str,
    description: str,
    conversation: Conversation | None = None,
    attachment_ids: Sequence[int] = (),
    priority: str = "normal",
    agent_id: int | None = None,
) -> WorkOrder:
    """Opened by the customer in chat (agent_id None) or by an agent from a conversation; refused (ServiceOff)
    while the organization has work orders turned off."""
    await require_on(session=session, org_id=customer.org_id, key=WORK_ORDERS)
    if conversation is not None and conversation.customer_id != customer.id:
        raise NotFound("no such conversation")
    order = WorkOrder(
        org_id=customer.org_id, customer_id=customer.id, conversation_id=conversation.id if conversation else None,
        channel=conversation.channel if conversation else "", category=check_category(settings, category),
        description=check_description(description), attachment_ids=list(attachment_ids),
        priority=check_priority(priority), opened_by_agent_id=agent_id, status="new",
    )
    stamp = now()
    order.created_at = order.updated_at = stamp
    cal = await sla.calendar_for(session=session, settings=settings, org_id=customer.org_id)
    sla.start(order, cal, stamp, settings.sla.resolution_minutes[priority],
              sla.risk_fraction(settings.sla))
    await insert_numbered(session, order)
    actor = ("agent", agent_id) if agent_id else ("customer", customer.id)
    await log_event(session=session, order=order, actor_type=actor[0], actor_id=actor[1], kind="created",
                    category=category, priority=priority)
    await raise_event(
        session=session, org_id=order.org_id, kind=NotificationKind.WORK_ORDER_NEW, subject_type="work_order",
        subject_id=order.id, title=f"{order.label} · {category}", url=f"/workbench/work-orders/{order.number}",
        dedup_key=f"work_order_new:{order.id}", detail={"number": order.label, "category": category}, settings=settings,
    )
    return order


async def get_work_order(*, session: AsyncSession, org_id: int, label: str | int) -> WorkOrder:
    number = label if isinstance(label, int) else parse_label(label)
    order = await session.scalar(select(WorkOrder).where(WorkOrder.org_id == org_id, WorkOrder.number == number))
    if order is None:
        raise NotFound("no such work order")
    return order


async def customer_work_orders(*, session: AsyncSession, org_id: int, customer_id: int, limit: int = 10) -> list[WorkOrder]:
    rows = await session.scalars(
        select(WorkOrder).where(WorkOrder.org_id == org_id, WorkOrder.customer_id == customer_id)
        .order_by(WorkOrder.id.desc()).limit(limit)
    )
    return list(rows)


async def conversation_work_orders(*, session: AsyncSession, org_id: int, conversation_id: int) -> list[WorkOrder]:
    rows = await session.scalars(
        select(WorkOrder).where(WorkOrder.org_id == org_id, WorkOrder.conversation_id == conversation_id)
        .order_by(WorkOrder.id.desc()).limit(50)
    )
    return list(rows)


async def history(*, session: AsyncSession, order: WorkOrder) -> list[WorkOrderEvent]:
    rows = await session.scalars(
        select(WorkOrderEvent).where(WorkOrderEvent.org_id == order.org_id, WorkOrderEvent.work_order_id == order.id)
        .order_by(WorkOrderEvent.id)
    )
    return list(rows)


@dataclass(frozen=True)
class ListFilter:
    mine: bool = False
    unassigned: bool = False
    at_risk: bool = False
    breached: bool = False
    priority: str = ""
    status: str = ""  # empty: every active status
    category: str = ""


def _conditions(org_id: int, agent_id: int, flt: ListFilter, stamp: datetime) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [WorkOrder.org_id == org_id]
    where.append(WorkOrder.status == flt.status if flt.status else WorkOrder.status.in_(ACTIVE))
    if flt.mine:
        where.append(WorkOrder.assignee_id == agent_id)
    if flt.unassigned:
        where.append(WorkOrder.assignee_id.is_(None))
    if flt.priority:
        where.append(WorkOrder.priority == flt.priority)
    if flt.category:
        where.append(WorkOrder.category == flt.category)
    # queue_at is the due time of running clocks only (NULL once stopped, far future while paused), and risk_at
    # is NULL unless the clock runs: each filter is an index range.
    if flt.at_risk:
        where.append(and_(WorkOrder.risk_at <= stamp, WorkOrder.due_at > stamp))
    if flt.breached:
        where.append(WorkOrder.queue_at <= stamp)
    return where


async def list_work_orders(
    *, session: AsyncSession, org_id: int, agent_id: int, flt: ListFilter, limit: int = 50, offset: int = 0
) -> list[WorkOrder]:
    """Active orders soonest due first (paused ones last); resolved or closed ones newest first."""
    if flt.status and flt.status not in STATUSES:
        raise InvalidInput("status: one of %(choices)s", choices=", ".join(STATUSES))
    if flt.priority:
        check_priority(flt.priority)
    query = select(WorkOrder).where(*_conditions(org_id, agent_id, flt, now()))
    if flt.at_risk:  # few rows, found by the risk index; ordering in SQL would walk the whole queue instead
        rows = sorted(await session.scalars(query), key=lambda o: (o.queue_at or datetime.max, o.id))
        return rows[offset : offset + limit]
    if flt.status in ("", *ACTIVE):  # the queue index, walked in due order (paused ones sort last)
        query = query.where(WorkOrder.queue_at.is_not(None)).order_by(WorkOrder.queue_at, WorkOrder.id)
    else:
        query = query.order_by(WorkOrder.id.desc())
    return list(await session.scalars(query.limit(limit).offset(offset)))

