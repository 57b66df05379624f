"""Conversation response clocks, kept in step with conversations by the SLA sweep.

A clock starts when a customer starts waiting (`waiting_since`): the first response target for a
conversation's first episode, the next response target after that. It pauses while the conversation
is pending (waiting on the customer), resumes when it is open again, and stops at the first agent
reply (or resolution). Starting from `waiting_since` makes the due time exact whenever the sweep runs.

The sweep looks only at conversations active since `since` (a customer message or an agent reply moves
`last_activity_at`; per organization that is a range of an existing index); a status change made in the
workbench updates its clock at once (`sync_conversation_clock`). A full pass (`since` None) runs when a
process starts and now and then, so nothing missed while the service was down stays missed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, func, insert, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from bot.config import Settings
from bot.core.business_time import BusinessCalendar
from bot.core.conversations.models import Conversation, Message
from bot.core.orgs.models import Organization
from bot.core.work_orders import sla
from bot.core.work_orders.models import ConversationClock, week_of
from bot.core.work_orders.rollup import count_duration

# Clocks started or followed per transaction. The rows are handled while the transaction holds SQLite's write turn
# (the business-calendar arithmetic, then one INSERT for the new clocks), and every webhook update waits for the
# turn: after a burst of 2,000 new chats, 2,000 at a time held it (and the event loop) for 400 ms. New clocks were
# once flushed by the ORM (about 0.25 ms a clock, so 50 a transaction to stay near 15 ms); written with one Core
# INSERT they cost about a third of that, and 100 a transaction stay near 15 ms. The sweep loops until a pass is short.
BATCH = 100
WAITING = ("open", "pending")


async def _org_ids(session: AsyncSession) -> Sequence[int]:
    return (await session.scalars(select(Organization.id))).all()


def _recent(org_id: int, since: datetime | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [Conversation.org_id == org_id]
    if since is not None:
        where.append(Conversation.last_activity_at >= since)
    return where


async def start_new_clocks(
    *, session: AsyncSession, settings: Settings, stamp: datetime, since: datetime | None = None,
    after: dict[tuple[int, str], tuple[datetime, int]] | None = None,
) -> int:
    """Clocks for up to BATCH waiting conversations of each organization that have none for their episode yet.

    `after` (shared by one sweep pass's transactions): where the pass has got to in each organization's waiting
    conversations of each status, in ix_conversations_inbox order (org, status, last activity, id); each transaction
    goes on from there. Without it, each of the transactions that catch up with a burst read again every
    conversation the ones before it had given a clock: 10 ms a transaction on SQLite after 15,000 new chats, and
    150 of them. (A conversation active again during the pass moves ahead and may be read twice: it has its clock.)"""
    same_episode = select(ConversationClock.id).where(
        ConversationClock.conversation_id == Conversation.id, ConversationClock.started_at == Conversation.waiting_since
    )
    started = 0
    cursor = after if after is not None else {}
    for org_id in await _org_ids(session):
        rows: list[Any] = []
        for status in WAITING:
            query = (
                select(Conversation.id, Conversation.waiting_since, Conversation.status, Conversation.last_activity_at)
                .where(*_recent(org_id, since), Conversation.status == status, Conversation.waiting_since.is_not(None),
                       ~same_episode.exists())
                .order_by(Conversation.last_activity_at, Conversation.id)
            )
            if (org_id, status) in cursor:
                query = query.where(tuple_(Conversation.last_activity_at, Conversation.id) > tuple_(*cursor[(org_id, status)]))
            found = (await session.execute(query.limit(BATCH - len(rows)))).all()
            if found:
                cursor[(org_id, status)] = (found[-1].last_activity_at, found[-1].id)
            rows += found
            if len(rows) >= BATCH:
                break
        started += await _start(session, settings, org_id, [row[:3] for row in rows], stamp)
    return started


async def _start(session: AsyncSession, settings: Settings, org_id: int, rows: Sequence[Any], stamp: datetime) -> int:
    if not rows:
        return 0
    seen = set(await session.scalars(
        select(ConversationClock.conversation_id).where(ConversationClock.conversation_id.in_([r[0] for r in rows])).distinct()
    ))
    cal = await sla.calendar_for(session=session, settings=settings, org_id=org_id)
    fraction, priority = sla.risk_fraction(settings.sla), settings.sla.conversation_priority
    new_rows = []
    for conversation_id, waiting_since, status in rows:
        kind = "next" if conversation_id in seen else "first"
        targets = settings.sla.next_response_minutes if kind == "next" else settings.sla.first_response_minutes
        clock = ConversationClock(org_id=org_id, conversation_id=conversation_id, kind=kind, priority=priority,
                                  started_at=waiting_since)  # transient: the SLA arithmetic works on its attributes
        sla.start(clock, cal, waiting_since, targets[priority], fraction)
        if status == "pending":
            sla.pause(clock, cal, stamp)
        new_rows.append(_clock_row(clock))
    # One executemany INSERT: nothing reads the new clocks back in this transaction, and the ORM's flush of the
    # same objects (identity map, unit of work, an id fetched per row) cost more than the SLA arithmetic.
    await (await session.connection()).execute(_INSERT_CLOCK, new_rows)
    return len(rows)


_CLOCKS: Table = ConversationClock.__table__  # type: ignore[assignment]
_INSERT_CLOCK = insert(_CLOCKS)
_CLOCK_DEFAULTS = {
    column.key: column.default.arg if isinstance(column.default, ScalarElementColumnDefault) else None
    for column in _CLOCKS.columns
    if column.key != "id"
}


def _clock_row(clock: ConversationClock) -> dict[str, Any]:
    """Every column but the id (an executemany needs the same keys in every row): the clock's value where it has
    one, else the column's default."""
    values = clock.__dict__
    return {key: values.get(key, default) for key, default in _CLOCK_DEFAULTS.items()}


def _out_of_step(stamp: datetime) -> ColumnElement[bool]:
    return or_(
        Conversation.waiting_since.is_(None),
        Conversation.waiting_since != ConversationClock.started_at,
        Conversation.status == "resolved",
        and_(Conversation.status == "pending", ConversationClock.paused_at.is_(None), ConversationClock.due_at > stamp),
        and_(Conversation.status == "open", ConversationClock.paused_at.is_not(None)),
    )


async def follow_conversations(
    *, session: AsyncSession, settings: Settings, stamp: datetime, since: datetime | None = None
) -> int:
    """Stop answered clocks, pause those of pending conversations, resume reopened ones."""
    followed = 0
    for org_id in await _org_ids(session):
        changed = (
            await session.execute(
                select(ConversationClock, Conversation.status, Conversation.waiting_since, Conversation.assignee_id)
                .join(Conversation, Conversation.id == ConversationClock.conversation_id)
                .where(*_recent(org_id, since), ConversationClock.stopped_at.is_(None), _out_of_step(stamp))
                .limit(BATCH)
            )
        ).all()
        if changed:
            cal = await sla.calendar_for(session=session, settings=settings, org_id=org_id)
        for clock, status, waiting_since, assignee_id in changed:
            await _follow(session, settings, cal, clock, status, waiting_since, assignee_id, stamp)
        followed += len(changed)
    await session.flush()
    return followed


async def sync_conversation_clock(*, session: AsyncSession, settings: Settings, conversation: Conversation, stamp: datetime) -> None:
    """A status change from the workbench: pause, resume or stop the conversation's clock now."""
    clock = await session.scalar(
        select(ConversationClock).where(ConversationClock.conversation_id == conversation.id, ConversationClock.stopped_at.is_(None))
    )
    if clock is not None:
        cal = await sla.calendar_for(session=session, settings=settings, org_id=conversation.org_id)
        await _follow(session, settings, cal, clock, conversation.status, conversation.waiting_since, conversation.assignee_id,
                      stamp)


async def _follow(
    session: AsyncSession, settings: Settings, cal: BusinessCalendar, clock: ConversationClock, status: str,
    waiting_since: datetime | None, assignee_id: int | None, stamp: datetime,
) -> None:
    fraction = sla.risk_fraction(settings.sla)
    if waiting_since == clock.started_at and status == "pending":
        sla.pause(clock, cal, stamp)
    elif waiting_since == clock.started_at and status == "open":
        sla.resume(clock, cal, stamp, fraction)
    else:
        answered = await session.scalar(
            select(func.min(Message.created_at)).where(
                Message.conversation_id == clock.conversation_id, Message.author_type == "agent",
                Message.direction == "out", Message.created_at >= clock.started_at,
            )
        )
        clock.stopped_at = answered or stamp
        clock.agent_id = assignee_id
        clock.stopped_week = week_of(clock.stopped_at)
        clock.response_seconds = int((clock.stopped_at - clock.started_at).total_seconds())
        sla.stop(clock, cal, clock.stopped_at)
        if clock.kind == "first":
            await count_duration(session=session, org_id=clock.org_id, week=clock.stopped_week, metric="first",
                                 agent_id=assignee_id, seconds=clock.response_seconds, met=bool(clock.sla_met))


async def inbox_clocks(
    *, session: AsyncSession, settings: Settings, org_id: int, waiting: dict[int, datetime]
) -> dict[int, ConversationClock]:
    """Response clocks of inbox rows (conversation id -> waiting_since). A conversation the sweep has not
    reached yet gets its clock computed here (not stored), so the inbox never shows a waiting row without one."""
    if not waiting:
        return {}
    rows = await session.scalars(
        select(ConversationClock).where(
            ConversationClock.org_id == org_id, ConversationClock.conversation_id.in_(list(waiting)),
            ConversationClock.stopped_at.is_(None),
        )
    )
    clocks = {c.conversation_id: c for c in rows if c.started_at == waiting.get(c.conversation_id)}
    cal = await sla.calendar_for(session=session, settings=settings, org_id=org_id)
    fraction, priority = sla.risk_fraction(settings.sla), settings.sla.conversation_priority
    missing = [cid for cid in waiting if cid not in clocks]
    if missing:
        seen = set(await session.scalars(
            select(ConversationClock.conversation_id).where(ConversationClock.conversation_id.in_(missing)).distinct()
        ))
        for cid in missing:
            targets = settings.sla.next_response_minutes if cid in seen else settings.sla.first_response_minutes
            clock = ConversationClock(org_id=org_id, conversation_id=cid, kind="next" if cid in seen else "first",
                                      started_at=waiting[cid])
            sla.start(clock, cal, waiting[cid], targets[priority], fraction)
            clocks[cid] = clock
    return clocks
