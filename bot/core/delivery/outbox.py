"""The durable outbox: every outbound message is a row before any platform sees it."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.clock import now
from bot.core.delivery.claims import ACTIVE, promote_next
from bot.core.delivery.models import OutboxItem


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


QUEUED = "incs.outbox.queued"  # session.info: the channels this session queued items for (the dispatcher's wake-up)


def note_queued(session: AsyncSession, channels: Collection[str]) -> None:
    """Every writer of pending outbox rows in a transaction that wakes the dispatcher for the channels it names
    (the ingest writer) says which channels it queued for."""
    session.info.setdefault(QUEUED, set()).update(channels)


def queued_channels(session: AsyncSession) -> frozenset[str]:
    return frozenset(session.info.get(QUEUED, ()))


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
    note_queued(session, (channel,))
    return item


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


_SENT = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("b_id"))
    .values(state="sent", sent_at=bindparam("b_at"), locked_until=None, last_error="", sends=OUTBOX.c.sends + 1,
            platform_message_id=bindparam("b_pid"))
)
_SENDS = select(OUTBOX.c.id, OUTBOX.c.sends).where(OUTBOX.c.id.in_(bindparam("b_ids", expanding=True)))
_RETRY = {  # counted: a failed attempt
    counted: update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("b_id"))
    .values(state="pending", next_attempt_at=bindparam("b_at"), locked_until=None, last_error=bindparam("b_error"),
            **({"attempts": OUTBOX.c.attempts + 1} if counted else {}))
    for counted in (True, False)
}
_FAILED = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("b_id"))
    .values(state="failed", locked_until=None, last_error=bindparam("b_error"))
)
# The statements above are built once: SQLAlchemy then finds their compiled form by a cache key it has memoized on
# the statement, instead of building and keying a new statement for every batch of outcomes.


async def _mark_sent(session: AsyncSession, sent: Sequence[Sent]) -> dict[int, int]:
    """A delivery on each item and its thread copy. A platform id that another message of the same identity
    already holds stays on the item only: it is the platform's id, not ours to refuse, and the thread's unique
    (identity, platform id) must hold."""
    stamp = now()
    await session.execute(_SENT, [{"b_id": s.item_id, "b_pid": s.platform_message_id, "b_at": stamp} for s in sent])
    rows = await session.execute(_SENDS, {"b_ids": [s.item_id for s in sent]})
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
        if group:
            await session.execute(
                _RETRY[counted],
                [{"b_id": r.item_id, "b_at": stamp + timedelta(seconds=r.delay_seconds), "b_error": r.error[:500]} for r in group],
            )


async def _mark_failed(session: AsyncSession, failed: Sequence[Failed]) -> None:
    await session.execute(_FAILED, [{"b_id": f.item_id, "b_error": f.error[:500]} for f in failed])
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
