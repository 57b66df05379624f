"""Work-order numbers: per organization, gap-free in the normal case, unique always (WO-000123)."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.errors import NotFound
from bot.core.work_orders.models import WorkOrder

_LABEL = re.compile(r"^(?:WO-?)?0*(\d{1,9})$", re.IGNORECASE)
ATTEMPTS = 5


def parse_label(text: str) -> int:
    """'WO-000123', 'wo123' or '123' -> 123; anything else is not a work order of anyone's."""
    match = _LABEL.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise NotFound("no such work order")
    return int(match.group(1))


async def insert_numbered(session: AsyncSession, order: WorkOrder) -> None:
    """Give the order the organization's next number; a concurrent writer taking it makes us retry."""
    for attempt in range(ATTEMPTS):
        last = await session.scalar(select(func.max(WorkOrder.number)).where(WorkOrder.org_id == order.org_id))
        order.number = int(last or 0) + 1
        try:
            async with session.begin_nested():
                session.add(order)
                await session.flush()
            return
        except IntegrityError:
            if attempt == ATTEMPTS - 1:
                raise
            if order in session:
                session.expunge(order)
