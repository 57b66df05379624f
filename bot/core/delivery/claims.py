"""Outbox claims: which items go out next, read from an index whatever the backlog.

Each channel's due items are read from ix_outbox_due (state, channel, next_attempt_at, id) in due order with a
LIMIT, and each is checked against ix_outbox_queue for an older undelivered item of its target (one in flight
per target keeps each chat's order). An item found waiting behind one is deferred by a lease, so the next claim
does not read it again; when the item ahead is delivered or fails, the outcome brings the next one forward
(`promote_next`). A claim therefore reads about what it claims (tests/core/test_outbox_claims.py checks the
plans). On PostgreSQL the heads are locked FOR UPDATE SKIP LOCKED before they are leased, so a row another
process is claiming is passed over, not waited for.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.core.common.clock import now
from bot.core.delivery.models import OutboxItem
from bot.core.storage.db import unindexed

ACTIVE = ("pending", "sending")


@dataclass(frozen=True)
class Claimed:
    id: int
    channel: str
    target: str
    payload: dict[str, Any]
    attempts: int  # the number of this attempt: failed attempts before it, plus one
    message_id: int | None
    org_id: int | None
    created_at: datetime
    fresh: bool = False  # no claim before this one handed the item to a sender: nothing of it can have arrived


async def claim_due(
    *,
    session: AsyncSession,
    lease_seconds: float,
    limit: int,
    per_channel: Mapping[str, int] | None = None,
    exclude: Collection[int] = (),
    first: Collection[int] = (),
) -> list[Claimed]:
    """Claim the oldest undelivered item of each target, if it is due, earliest due first. One in flight per target
    keeps order. `per_channel` caps a channel's claims (a rate-limited channel takes only what it can send
    within the lease); `limit` caps the channels not named there, together. `exclude`: items this process still
    has in hand. `first`: items sent back to pending only to wait (a rate limit, a retry_after), claimed before
    the rest if they are due: otherwise they would queue behind every item that became due while they waited,
    which in a backlog is all of it.

    Index-driven, whatever the backlog: each channel's due items are read from ix_outbox_due (state, channel,
    next_attempt_at, id) in due order with a LIMIT, and each is checked against ix_outbox_queue for an older
    undelivered item of its target. An item found waiting behind one (not its target's head) is deferred by a
    lease, so the next claim does not read it again; when the item ahead is delivered or fails, the outcome
    brings the next one forward (`promote_next`). So a claim reads about what it claims, not the backlog.

    A claim is not an attempt; only a claim of an item whose lease ran out (its outcome was never recorded)
    counts one."""
    stamp = now()
    caps = {channel: room for channel, room in (per_channel or {}).items() if room > 0}
    named = set(per_channel or {})
    heads: list[_Row] = []
    channels = await _active_channels(session)
    await _one_at_a_time(session, channels, claim=True)
    for channel in channels:
        if channel in caps:
            heads += await _heads(session, stamp, lease_seconds, channel, caps[channel], exclude, first)
    if limit > 0:
        others: list[_Row] = []
        for channel in channels:
            if channel not in named:
                others += await _heads(session, stamp, lease_seconds, channel, limit, exclude, first)
        heads += sorted(others, key=lambda row: (row.due, row.id))[:limit]
    return await _lease(session, stamp, lease_seconds, heads)


@dataclass(frozen=True)
class _Row:
    id: int
    due: datetime
    blocked: bool


SCAN_ROUNDS = 8  # reads of one channel's due items per claim at most


async def _one_at_a_time(session: AsyncSession, channels: Collection[str], *, claim: bool) -> None:
    """PostgreSQL: a claim and an outcome's `promote_next` of the same channel take turns (a transaction-scoped
    advisory lock per channel, taken in name order, so two of them never wait on each other crosswise; claims
    take it shared, so claims of several processes still run side by side, and skip each other's rows). Without
    it a claim could defer an item by a whole lease on a snapshot in which the item ahead was still in flight,
    while the outcome that finished that item, not yet seeing the deferral, brought nothing forward: the chat's
    next message would wait a lease. SQLite's write turns already serialize them."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for channel in sorted(set(channels)):
        lock = "pg_advisory_xact_lock_shared" if claim else "pg_advisory_xact_lock"
        await session.execute(text(f"SELECT {lock}(hashtext(:key))"), {"key": f"incs.outbox.claims:{channel}"})


async def _active_channels(session: AsyncSession) -> list[str]:
    """The channels with undelivered items: a skip scan of ix_outbox_due, one index seek per channel."""
    rows = await session.execute(_CHANNELS)
    return sorted({str(c) for (c,) in rows if c is not None})


_CHANNELS = text(
    """
    WITH RECURSIVE ch(state, c) AS (
        SELECT 'pending', (SELECT channel FROM outbox WHERE state = 'pending' ORDER BY channel LIMIT 1)
        UNION ALL
        SELECT 'sending', (SELECT channel FROM outbox WHERE state = 'sending' ORDER BY channel LIMIT 1)
        UNION ALL
        SELECT ch.state, (SELECT o.channel FROM outbox o WHERE o.state = ch.state AND o.channel > ch.c
                          ORDER BY o.channel LIMIT 1)
        FROM ch WHERE ch.c IS NOT NULL
    )
    SELECT c FROM ch
    """
)


@functools.cache
def _blocked() -> Any:
    """An older undelivered item of the same target exists (ix_outbox_queue: two seeks). Built once.

    The first such item in ix_outbox_queue's own order, not EXISTS: when PostgreSQL's statistics know of no pending
    rows (a new database, or a table of sent rows a burst has just filled, too few new rows to have it analyzed),
    every index estimates one row, and for EXISTS (whose ORDER BY PostgreSQL drops) it took ix_outbox_due, which
    cannot seek a target: each candidate read all the channel's pending rows (47 ms a claim with 12,000 greetings
    queued). Asked in ix_outbox_queue's order, only that index answers without a sort."""
    older = aliased(OutboxItem)
    first = (
        select(older.id)
        .where(
            older.state.in_(ACTIVE),
            older.channel == OutboxItem.channel,
            older.target == OutboxItem.target,
            older.id < OutboxItem.id,
        )
        .order_by(older.state, older.channel, older.target, older.id)
        .limit(1)
        .scalar_subquery()
    )
    return first.is_not(None)


async def _lockable(session: AsyncSession, ids: list[int]) -> list[int]:
    """PostgreSQL: of these rows, the ones this transaction now holds (FOR UPDATE SKIP LOCKED), so a row another
    process is claiming is passed over instead of waited for, and only what is claimed is locked."""
    if not ids or session.get_bind().dialect.name != "postgresql":
        return ids
    query = select(OutboxItem.id).where(OutboxItem.id.in_(ids)).with_for_update(skip_locked=True)
    return list((await session.scalars(query)).all())


def due_query(channel: str, stamp: datetime, scan: int, exclude: Collection[int] = ()) -> Any:
    """A channel's due pending items in due order, each with whether an older item of its target is undelivered:
    a range of ix_outbox_due read in index order up to the LIMIT (no sort, no grouping)."""
    query = select(OutboxItem.id, OutboxItem.next_attempt_at, _blocked().label("blocked")).where(
        OutboxItem.state == "pending", OutboxItem.channel == channel, OutboxItem.next_attempt_at <= stamp
    )
    if exclude:
        query = query.where(OutboxItem.id.not_in(list(exclude)))
    return query.order_by(OutboxItem.next_attempt_at, OutboxItem.id).limit(scan)


async def _heads(
    session: AsyncSession,
    stamp: datetime,
    lease_seconds: float,
    channel: str,
    room: int,
    exclude: Collection[int],
    first: Collection[int] = (),
) -> list[_Row]:
    """Up to `room` claimable heads of one channel: lost leases first, then the `first` items that are due, then due
    pending items in due order."""
    columns = (OutboxItem.id, OutboxItem.next_attempt_at, _blocked().label("blocked"))
    lost = select(*columns).where(
        OutboxItem.state == "sending", OutboxItem.channel == channel, OutboxItem.locked_until < stamp
    )
    if exclude:
        lost = lost.where(OutboxItem.id.not_in(list(exclude)))
    found = [_Row(i, due, bool(b)) for i, due, b in await session.execute(lost.order_by(OutboxItem.id).limit(room))]
    heads = [row for row in found if not row.blocked]
    wanted = [i for i in first if i not in set(exclude)]
    if wanted and len(heads) < room:
        back = select(*columns).where(
            OutboxItem.id.in_(wanted),
            OutboxItem.state == "pending",
            OutboxItem.channel == channel,
            OutboxItem.next_attempt_at <= stamp,
        )
        rows = [_Row(i, due, bool(b)) for i, due, b in await session.execute(back.order_by(OutboxItem.id))]
        heads += [row for row in rows if not row.blocked][: room - len(heads)]
    for round_no in range(SCAN_ROUNDS):
        if len(heads) >= room:
            break
        want = room - len(heads)
        # Heads are usually a good share of the due items; where they are not (a long queue to one chat), each read
        # doubles. Every non-head read is deferred, so it is read about once per lease, not once per claim.
        scan = min((want * 2 + 16) << round_no, 4096)
        skip = [*exclude, *(row.id for row in heads)]  # heads found in an earlier read are due still
        rows = [_Row(i, at, bool(b)) for i, at, b in await session.execute(due_query(channel, stamp, scan, skip))]
        heads += [row for row in rows if not row.blocked][:want]
        waiting = [row.id for row in rows if row.blocked]
        if waiting:
            await _defer(session, waiting, stamp + timedelta(seconds=lease_seconds))
        if len(rows) < scan:
            break
    return heads


async def _defer(session: AsyncSession, ids: list[int], until: datetime) -> None:
    """Items waiting behind an older one of their target: out of the due range until `until`, unless the one
    ahead has finished meanwhile (then they are heads and stay due)."""
    ids = await _lockable(session, ids)
    if not ids:
        return
    await session.execute(defer_statement(ids, until))


def defer_statement(ids: list[int], until: datetime) -> Any:
    """Found by primary key: `state` unindexed, else SQLite read every pending row for it (db.unindexed)."""
    return (
        update(OutboxItem)
        .where(OutboxItem.id.in_(ids), unindexed(OutboxItem.state) == "pending", _blocked())
        .values(next_attempt_at=until)
        .execution_options(synchronize_session=False)
    )


async def _lease(session: AsyncSession, stamp: datetime, lease_seconds: float, heads: list[_Row]) -> list[Claimed]:
    """One conditional UPDATE leases the heads (still due: another process may have taken one meanwhile)."""
    ids = await _lockable(session, [row.id for row in heads])
    if not ids:
        return []
    result = await session.execute(lease_statement(ids, stamp, lease_seconds))
    order = {row.id: n for n, row in enumerate(heads)}
    claimed = [
        # attempts as now written: failed attempts before this one (a lost lease included); fresh: never handed to a
        # sender before (every outcome but sent leaves an error, a lost lease an attempt)
        Claimed(i, channel, target, payload, attempts + 1, message_id, org_id, created, attempts == 0 and not error)
        for i, channel, target, payload, attempts, message_id, org_id, created, error in result
    ]
    return sorted(claimed, key=lambda c: order[c.id])


def lease_statement(ids: list[int], stamp: datetime, lease_seconds: float) -> Any:
    """Leases these items if still due, found by primary key: `state` unindexed, else SQLite read every pending row
    for it (12 ms a claim with 45,000 greetings queued, in the write turn; db.unindexed)."""
    state = unindexed(OutboxItem.state)
    due = or_(
        and_(state == "pending", OutboxItem.next_attempt_at <= stamp),
        and_(state == "sending", OutboxItem.locked_until < stamp),
    )
    return (
        update(OutboxItem)
        .where(OutboxItem.id.in_(ids), due)
        .values(
            state="sending",
            attempts=OutboxItem.attempts + case((OutboxItem.state == "sending", 1), else_=0),  # a lost lease: that attempt counts
            locked_until=stamp + timedelta(seconds=lease_seconds),
        )
        .returning(
            OutboxItem.id, OutboxItem.channel, OutboxItem.target, OutboxItem.payload, OutboxItem.attempts,
            OutboxItem.message_id, OutboxItem.org_id, OutboxItem.created_at, OutboxItem.last_error,
        )
        .execution_options(synchronize_session=False)
    )


_QUEUE: Any = OutboxItem.__table__
_NEXT = (  # one target's oldest pending item: the first entry of its run in ix_outbox_queue, one seek
    select(func.min(_QUEUE.c.id))
    .where(_QUEUE.c.state == "pending", _QUEUE.c.channel == bindparam("b_channel"), _QUEUE.c.target == bindparam("b_target"))
    .scalar_subquery()
)
# Built once: every outcome runs it, once per finished target in one executemany. A single statement over all the
# targets (`(channel, target) IN (VALUES …) GROUP BY …`) read every pending row on SQLite, whose planner seeks only
# `state` for a row-value IN: 23 ms with 60,000 greetings queued, held in the write turn.
_PROMOTE = update(_QUEUE).where(_QUEUE.c.id == _NEXT, _QUEUE.c.next_attempt_at > bindparam("b_now")).values(
    next_attempt_at=bindparam("b_now")
)


async def promote_next(*, session: AsyncSession, targets: Collection[tuple[str, str]]) -> None:
    """These targets' items ahead have finished (sent or failed): their next item, if a claim deferred it while
    it waited, is due now."""
    if not targets:
        return
    await _one_at_a_time(session, [channel for channel, _ in targets], claim=False)
    stamp = now()
    await session.execute(_PROMOTE, [{"b_channel": channel, "b_target": target, "b_now": stamp} for channel, target in targets])
