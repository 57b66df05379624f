"""Customer satisfaction: one 1-5 rating (and an optional comment) per resolved work order or conversation.

Only the customer the item belongs to may rate it, only once it is resolved, and only once: another
customer's item is Forbidden, a second answer a Conflict (the unique constraint settles races).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.clock import now
from bot.core.common.errors import Conflict, Forbidden, InvalidInput
from bot.core.conversations.models import Conversation
from bot.core.work_orders.models import CsatResponse, WorkOrder, week_of
from bot.core.work_orders.notices import csat_buttons, tell_customer
from bot.core.work_orders.rollup import count_rating
from bot.core.work_orders.services import log_event

SUBJECTS = ("work_order", "conversation")
MAX_COMMENT = 1000


async def _subject(session: AsyncSession, org_id: int, customer_id: int, subject_type: str, subject_id: int) -> tuple[str, int | None]:
    """(status, agent to credit) of an item the customer owns; Forbidden otherwise."""
    row: WorkOrder | Conversation | None
    if subject_type == "work_order":
        row = await session.get(WorkOrder, subject_id)
    elif subject_type == "conversation":
        row = await session.get(Conversation, subject_id)
    else:
        raise InvalidInput("csat: unknown item")
    if row is None or row.org_id != org_id or row.customer_id != customer_id:
        raise Forbidden("csat: that item is not yours to rate")
    return row.status, row.assignee_id


async def record_csat(
    *, session: AsyncSession, org_id: int, customer_id: int, subject_type: str, subject_id: int, rating: int
) -> CsatResponse:
    if not 1 <= rating <= 5:
        raise InvalidInput("csat: a rating is 1 to 5")
    status, agent_id = await _subject(session, org_id, customer_id, subject_type, subject_id)
    if status not in ("resolved", "closed"):
        raise Conflict("csat: it is not resolved yet")
    existing = await session.scalar(
        select(CsatResponse).where(CsatResponse.subject_type == subject_type, CsatResponse.subject_id == subject_id)
    )
    if existing is not None:
        raise Conflict("csat: already rated")
    answer = CsatResponse(org_id=org_id, customer_id=customer_id, subject_type=subject_type, subject_id=subject_id,
                          agent_id=agent_id, rating=rating, week=week_of(now()))
    try:
        async with session.begin_nested():
            session.add(answer)
            await session.flush()
    except IntegrityError:
        raise Conflict("csat: already rated") from None
    await count_rating(session=session, org_id=org_id, week=answer.week, agent_id=agent_id, rating=rating)
    if subject_type == "work_order":
        order = await session.get(WorkOrder, subject_id)
        assert order is not None
        await log_event(session=session, order=order, actor_type="customer", actor_id=customer_id, kind="csat", rating=rating)
    return answer


async def add_csat_comment(*, session: AsyncSession, org_id: int, customer_id: int, answer_id: int, text: str) -> CsatResponse:
    answer = await session.get(CsatResponse, answer_id)
    if answer is None or answer.org_id != org_id or answer.customer_id != customer_id:
        raise Forbidden("csat: that answer is not yours")
    if answer.comment:
        raise Conflict("csat: already commented")
    answer.comment = text.strip()[:MAX_COMMENT]
    return answer


async def ask_conversation_csat(*, session: AsyncSession, conversation: Conversation) -> bool:
    """A resolved conversation asks its customer for a rating (buttons), unless it was rated already."""
    rated = await session.scalar(
        select(CsatResponse.id).where(CsatResponse.subject_type == "conversation", CsatResponse.subject_id == conversation.id)
    )
    if rated is not None or conversation.status != "resolved":
        return False
    return await tell_customer(session=session, conversation_id=conversation.id, text_name="csat_ask",
                               buttons=csat_buttons("conversation", conversation.id))
