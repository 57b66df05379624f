"""The durable outbox: every outbound message is a row before any platform sees it."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, case, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.clock import now
from bot.core.delivery.models import OutboxItem

ACTIVE = ("pending", "sending")


class ThreadCopy(Protocol):
    """What an outcome changes outside the outbox: the delivered message's copy in its thread, and whether a
    channel identity can still be reached. The conversations package owns those tables and registers its
    implementation (bot/core/conversations/delivery_state.py); delivery sits below conversations and does not
    import them. Each call runs in the outcome's own transaction."""

    async def sent(self, session: AsyncSession, message_id: int, platform_message_id: str | None) -> None: ...

    async def failed(self, session: AsyncSession, message_id: int) -> None: ...

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
    """Claim the oldest undelivered item of each target, if it is due, oldest first. One in flight per target
    keeps order. `per_channel` caps a channel's claims (a rate-limited channel takes only what it can send
    within the lease); `limit` caps the channels not named there. `exclude`: items this process still has in hand.

    A claim is not an attempt; only a claim of an item whose lease ran out (its outcome was never recorded)
    counts one."""
    stamp = now()
    caps = dict(per_channel or {})
    claimed: list[Claimed] = []
    for channel, room in caps.items():
        if room > 0:
            claimed += await _claim(session, stamp, lease_seconds, room, OutboxItem.channel == channel, exclude)
    if limit > 0:
        scope = OutboxItem.channel.not_in(list(caps)) if caps else true()
        claimed += await _claim(session, stamp, lease_seconds, limit, scope, exclude)
    return claimed


async def _claim(
    session: AsyncSession, stamp: datetime, lease_seconds: float, limit: int, scope: Any, exclude: Collection[int]
) -> list[Claimed]:
    heads = select(func.min(OutboxItem.id)).where(OutboxItem.state.in_(ACTIVE), scope).group_by(OutboxItem.channel, OutboxItem.target)
    due = or_(
        and_(OutboxItem.state == "pending", OutboxItem.next_attempt_at <= stamp),
        and_(OutboxItem.state == "sending", OutboxItem.locked_until < stamp),
    )
    query = select(OutboxItem).where(OutboxItem.id.in_(heads), due)
    if exclude:
        query = query.where(OutboxItem.id.not_in(list(exclude)))
    if session.get_bind().dialect.name == "postgresql":
        return await _claim_locked(session, query.order_by(OutboxItem.id).limit(limit), stamp, lease_seconds)
    rows = (await session.scalars(query.order_by(OutboxItem.id).limit(limit))).all()
    claimed: list[Claimed] = []
    for item in rows:
        attempts = item.attempts + (1 if item.state == "sending" else 0)  # a lost lease: that attempt counts
        unchanged = (
            OutboxItem.next_attempt_at == item.next_attempt_at
            if item.state == "pending"
            else OutboxItem.locked_until == item.locked_until
        )
        result = await session.execute(
            update(OutboxItem)
            .where(OutboxItem.id == item.id, OutboxItem.state == item.state, unchanged)
            .values(state="sending", attempts=attempts, locked_until=stamp + timedelta(seconds=lease_seconds))
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            fresh = item.state == "pending" and item.attempts == 0 and not item.last_error  # every outcome but sent leaves an error
            claimed.append(
                Claimed(
                    item.id, item.channel, item.target, item.payload, attempts + 1, item.message_id, item.org_id, item.created_at, fresh
                )
            )
    return claimed


async def _claim_locked(session: AsyncSession, query: Any, stamp: datetime, lease_seconds: float) -> list[Claimed]:
    """PostgreSQL: the due heads are locked as they are read (FOR UPDATE SKIP LOCKED), so a row another process
    is claiming is passed over instead of waited for, and the rows read are ours to update in one statement."""
    rows = (await session.scalars(query.with_for_update(skip_locked=True, of=OutboxItem))).all()
    if not rows:
        return []
    await session.execute(
        update(OutboxItem)
        .where(OutboxItem.id.in_([item.id for item in rows]))
        .values(
            state="sending",
            attempts=OutboxItem.attempts + case((OutboxItem.state == "sending", 1), else_=0),  # a lost lease: that attempt counts
            locked_until=stamp + timedelta(seconds=lease_seconds),
        )
        .execution_options(synchronize_session=False)
    )
    return [
        Claimed(
            item.id, item.channel, item.target, item.payload, item.attempts + (1 if item.state == "sending" else 0) + 1,
            item.message_id, item.org_id, item.created_at,
            item.state == "pending" and item.attempts == 0 and not item.last_error,  # fresh: see _claim
        )
        for item in rows
    ]


async def mark_sent(*, session: AsyncSession, item_id: int, platform_message_id: str | None) -> int:
    """Record a delivery on the item and its thread copy; returns how many deliveries the item has now (above 1:
    a duplicate). A platform id that another message of the same identity already holds stays on the item only:
    it is the platform's id, not ours to refuse, and the thread's unique (identity, platform id) must hold."""
    row = await _record_sent(session, item_id, platform_message_id)
    if row is None:
        return 0
    sends, message_id = row
    if message_id is not None:
        await _thread().sent(session, message_id, platform_message_id)
    return sends


async def journal_sent(*, session: AsyncSession, item_id: int, platform_message_id: str | None) -> None:
    """The item was delivered but its full outcome cannot be written: record it on the outbox row alone, so that
    no claim sends it again (its thread copy keeps delivery_state pending)."""
    await _record_sent(session, item_id, platform_message_id, note="delivered; the thread copy could not be updated")


async def _record_sent(
    session: AsyncSession, item_id: int, platform_message_id: str | None, note: str = ""
) -> tuple[int, int | None] | None:
    result = await session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id)
        .values(
            state="sent",
            sent_at=now(),
            locked_until=None,
            last_error=note,
            sends=OutboxItem.sends + 1,
            platform_message_id=platform_message_id,
        )
        .returning(OutboxItem.sends, OutboxItem.message_id)
        .execution_options(synchronize_session=False)
    )
    row = result.first()
    return (int(row[0]), row[1]) if row is not None else None


async def mark_retry(*, session: AsyncSession, item_id: int, delay_seconds: float, error: str, counted: bool = True) -> None:
    """Back to pending until `delay_seconds` from now. `counted`: a failed attempt (towards max_attempts); waiting
    for a rate-limit slot or a platform's retry_after is not one."""
    values: dict[str, Any] = {
        "state": "pending",
        "next_attempt_at": now() + timedelta(seconds=delay_seconds),
        "locked_until": None,
        "last_error": error[:500],
    }
    if counted:
        values["attempts"] = OutboxItem.attempts + 1
    await session.execute(
        update(OutboxItem).where(OutboxItem.id == item_id).values(**values).execution_options(synchronize_session=False)
    )


async def mark_failed(*, session: AsyncSession, item_id: int, error: str) -> None:
    await session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id)
        .values(state="failed", locked_until=None, last_error=error[:500])
        .execution_options(synchronize_session=False)
    )
    message_id = await session.scalar(select(OutboxItem.message_id).where(OutboxItem.id == item_id))
    if message_id is not None:
        await _thread().failed(session, message_id)


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
