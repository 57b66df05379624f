"""The durable outbox: every outbound message is a row before any platform sees it."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Table, and_, bindparam, case, func, or_, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.core.common.clock import now
from bot.core.delivery.models import OutboxItem

ACTIVE = ("pending", "sending")


class ThreadCopy(Protocol):
    """What outcomes change outside the outbox: the delivered messages' copies in their threads, and whether a
    channel identity can still be reached. The conversations package owns those tables and registers its
    implementation (bot/core/conversations/delivery_state.py); delivery sits below conversations and does not
    import them. Each call runs in the outcomes' own transaction, one statement per kind of write."""

    async def sent(self, session: AsyncSession, copies: Sequence[tuple[int, str | None]]) -> None:
        """(message id, platform message id or None) of each delivered item with a thread copy."""

    async def failed(self, session: AsyncSession, message_ids: Sequence[int]) -> None: ...

    async def unreachable(self, session: AsyncSession, org_id: int | None, channel: str, target: str) -> None: ...


_thread_copy: ThreadCopy | None = None


def keep_thread_copy(copy: ThreadCopy) -> None:
    """Registered once, when bot.core.conversations is imported (every process that delivers imports it)."""
    global _thread_copy
    _thread_copy = copy


def _thread() -> ThreadCopy:
    if _thread_copy is None:
        raise RuntimeError("no thread copy registered: import bot.core.conversations before delivering")
    return _thread_copy


async def enqueue(
    *,
    session: AsyncSession,
    channel: str,
    target: str,
    payload: dict[str, Any],
    idempotency_key: str,
    org_id: int | None = None,
    message_id: int | None = None,
    new_key: bool = False,
) -> OutboxItem:
    """Queue one delivery. The same idempotency key twice yields the first item, not a second send.
    `new_key` skips the look-up when the key cannot exist yet (it names a row created in this transaction)."""
    if not new_key:
        existing = await session.scalar(select(OutboxItem).where(OutboxItem.idempotency_key == idempotency_key))
        if existing is not None:
            return existing
    item = OutboxItem(
        org_id=org_id, channel=channel, target=target, payload=payload, idempotency_key=idempotency_key, message_id=message_id
    )
    session.add(item)
    await session.flush()
    return item


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
) -> list[Claimed]:
    """Claim the oldest undelivered item of each target, if it is due, earliest due first. One in flight per target
    keeps order. `per_channel` caps a channel's claims (a rate-limited channel takes only what it can send
    within the lease); `limit` caps the channels not named there, together. `exclude`: items this process still
    has in hand.

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
    for channel in channels:
        if channel in caps:
            heads += await _heads(session, stamp, lease_seconds, channel, caps[channel], exclude)
    if limit > 0:
        others: list[_Row] = []
        for channel in channels:
            if channel not in named:
                others += await _heads(session, stamp, lease_seconds, channel, limit, exclude)
        heads += sorted(others, key=lambda row: (row.due, row.id))[:limit]
    return await _lease(session, stamp, lease_seconds, heads)


@dataclass(frozen=True)
class _Row:
    id: int
    due: datetime
    blocked: bool


SCAN_ROUNDS = 8  # reads of one channel's due items per claim at most


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


def _blocked() -> Any:
    """An older undelivered item of the same target exists (ix_outbox_queue: two seeks)."""
    older = aliased(OutboxItem)
    return (
        select(older.id)
        .where(
            older.state.in_(ACTIVE),
            older.channel == OutboxItem.channel,
            older.target == OutboxItem.target,
            older.id < OutboxItem.id,
        )
        .exists()
    )


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
    session: AsyncSession, stamp: datetime, lease_seconds: float, channel: str, room: int, exclude: Collection[int]
) -> list[_Row]:
    """Up to `room` claimable heads of one channel: lost leases first, then due pending items in due order."""
    columns = (OutboxItem.id, OutboxItem.next_attempt_at, _blocked().label("blocked"))
    lost = select(*columns).where(
        OutboxItem.state == "sending", OutboxItem.channel == channel, OutboxItem.locked_until < stamp
    )
    if exclude:
        lost = lost.where(OutboxItem.id.not_in(list(exclude)))
    found = [_Row(i, due, bool(b)) for i, due, b in await session.execute(lost.order_by(OutboxItem.id).limit(room))]
    heads = [row for row in found if not row.blocked]
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
    await session.execute(
        update(OutboxItem)
        .where(OutboxItem.id.in_(ids), OutboxItem.state == "pending", _blocked())
        .values(next_attempt_at=until)
        .execution_options(synchronize_session=False)
    )


async def _lease(session: AsyncSession, stamp: datetime, lease_seconds: float, heads: list[_Row]) -> list[Claimed]:
    """One conditional UPDATE leases the heads (still due: another process may have taken one meanwhile)."""
    ids = await _lockable(session, [row.id for row in heads])
    if not ids:
        return []
    due = or_(
        and_(OutboxItem.state == "pending", OutboxItem.next_attempt_at <= stamp),
        and_(OutboxItem.state == "sending", OutboxItem.locked_until < stamp),
    )
    result = await session.execute(
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
    order = {row.id: n for n, row in enumerate(heads)}
    claimed = [
        # attempts as now written: failed attempts before this one (a lost lease included); fresh: never handed to a
        # sender before (every outcome but sent leaves an error, a lost lease an attempt)
        Claimed(i, channel, target, payload, attempts + 1, message_id, org_id, created, attempts == 0 and not error)
        for i, channel, target, payload, attempts, message_id, org_id, created, error in result
    ]
    return sorted(claimed, key=lambda c: order[c.id])


async def promote_next(*, session: AsyncSession, targets: Collection[tuple[str, str]]) -> None:
    """These targets' items ahead have finished (sent or failed): their next item, if a claim deferred it while
    it waited, is due now."""
    if not targets:
        return
    stamp = now()
    nxt = (
        select(func.min(OutboxItem.id))
        .where(OutboxItem.state == "pending", tuple_(OutboxItem.channel, OutboxItem.target).in_(list(targets)))
        .group_by(OutboxItem.channel, OutboxItem.target)
    )
    await session.execute(
        update(OutboxItem)
        .where(OutboxItem.id.in_(nxt), OutboxItem.next_attempt_at > stamp)
        .values(next_attempt_at=stamp)
        .execution_options(synchronize_session=False)
    )


OUTBOX: Table = OutboxItem.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Sent:
    item_id: int
    message_id: int | None
    platform_message_id: str | None


@dataclass(frozen=True)
class Retry:
    item_id: int
    delay_seconds: float
    error: str
    counted: bool = True  # a failed attempt (towards max_attempts); waiting for a slot or a retry_after is not one


@dataclass(frozen=True)
class Failed:
    item_id: int
    message_id: int | None
    error: str


async def record_outcomes(
    *,
    session: AsyncSession,
    sent: Sequence[Sent] = (),
    retries: Sequence[Retry] = (),
    failed: Sequence[Failed] = (),
    finished: Collection[tuple[str, str]] = (),
) -> dict[int, int]:
    """Write a batch of outcomes with one statement per kind of write (executemany), not one per item; returns
    each sent item's recorded deliveries (above 1: a duplicate). `finished`: the (channel, target) of the sent
    and failed items, whose next item is brought forward (promote_next)."""
    sends = await _mark_sent(session, sent) if sent else {}
    if retries:
        await _mark_retry(session, retries)
    if failed:
        await _mark_failed(session, failed)
    await promote_next(session=session, targets=finished)
    return sends


async def _mark_sent(session: AsyncSession, sent: Sequence[Sent]) -> dict[int, int]:
    """A delivery on each item and its thread copy. A platform id that another message of the same identity
    already holds stays on the item only: it is the platform's id, not ours to refuse, and the thread's unique
    (identity, platform id) must hold."""
    await session.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id == bindparam("b_id"))
        .values(state="sent", sent_at=now(), locked_until=None, last_error="", sends=OUTBOX.c.sends + 1,
                platform_message_id=bindparam("b_pid")),
        [{"b_id": s.item_id, "b_pid": s.platform_message_id} for s in sent],
    )
    rows = await session.execute(select(OUTBOX.c.id, OUTBOX.c.sends).where(OUTBOX.c.id.in_([s.item_id for s in sent])))
    sends = {int(i): int(n) for i, n in rows}
    copies = [(s.message_id, s.platform_message_id) for s in sent if s.message_id is not None and s.item_id in sends]
    if copies:
        await _thread().sent(session, copies)
    return sends


async def _mark_retry(session: AsyncSession, retries: Sequence[Retry]) -> None:
    """Back to pending until each one's delay from now; a counted retry is a failed attempt."""
    stamp = now()
    for counted in (True, False):
        group = [r for r in retries if r.counted is counted]
        if not group:
            continue
        values: dict[str, Any] = {
            "state": "pending", "next_attempt_at": bindparam("b_at"), "locked_until": None, "last_error": bindparam("b_error"),
        }
        if counted:
            values["attempts"] = OUTBOX.c.attempts + 1
        await session.execute(
            update(OUTBOX).where(OUTBOX.c.id == bindparam("b_id")).values(**values),
            [{"b_id": r.item_id, "b_at": stamp + timedelta(seconds=r.delay_seconds), "b_error": r.error[:500]} for r in group],
        )


async def _mark_failed(session: AsyncSession, failed: Sequence[Failed]) -> None:
    await session.execute(
        update(OUTBOX).where(OUTBOX.c.id == bindparam("b_id")).values(state="failed", locked_until=None, last_error=bindparam("b_error")),
        [{"b_id": f.item_id, "b_error": f.error[:500]} for f in failed],
    )
    copies = [f.message_id for f in failed if f.message_id is not None]
    if copies:
        await _thread().failed(session, copies)


async def journal_sent(*, session: AsyncSession, item_id: int, platform_message_id: str | None) -> None:
    """The item was delivered but its full outcome cannot be written: record it on the outbox row alone, so that
    no claim sends it again (its thread copy keeps delivery_state pending). The caller brings its target's next
    item forward separately (promote_next): that may fail without harm (the next item waits for its deferral)."""
    await session.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id == item_id)
        .values(state="sent", sent_at=now(), locked_until=None, last_error="delivered; the thread copy could not be updated",
                sends=OUTBOX.c.sends + 1, platform_message_id=platform_message_id)
    )


async def mark_unreachable(*, session: AsyncSession, org_id: int | None, channel: str, target: str) -> None:
    await _thread().unreachable(session, org_id, channel, target)


async def backlog(*, session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(OutboxItem).where(OutboxItem.state.in_(ACTIVE))) or 0)


@dataclass(frozen=True)
class OutboxGauges:
    by_state: dict[tuple[str, str], int]  # (channel, state) -> items, for pending, sending and failed
    oldest_pending_seconds: float  # age of the oldest undelivered item; 0 when none waits


async def gauges(*, session: AsyncSession) -> OutboxGauges:
    """What /metrics shows of the outbox (delivered items are counted by the sent counter, not here: the table
    keeps them all)."""
    rows = await session.execute(
        select(OutboxItem.channel, OutboxItem.state, func.count())
        .where(OutboxItem.state.in_((*ACTIVE, "failed")))
        .group_by(OutboxItem.channel, OutboxItem.state)
    )
    oldest = await session.scalar(select(func.min(OutboxItem.created_at)).where(OutboxItem.state.in_(ACTIVE)))
    age = max((now() - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    return OutboxGauges({(str(c), str(s)): int(n) for c, s, n in rows}, age)


async def reply_payloads(*, session: AsyncSession, message_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The outbox payloads of these outbound messages (buttons, cards), by message id."""
    if not message_ids:
        return {}
    rows = await session.execute(select(OutboxItem.message_id, OutboxItem.payload).where(OutboxItem.message_id.in_(message_ids)))
    return {message_id: payload for message_id, payload in rows if message_id is not None}
