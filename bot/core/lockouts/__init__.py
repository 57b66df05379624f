"""Identity-check lockouts as admins see them: who is locked (the customer, not a row id) and unlocking.

Unlocking clears the lock and its failure counter; the admin's action is audited by the caller's view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.errors import NotFound
from bot.core.conversations.models import ChannelIdentity, Customer
from bot.core.identity.models import VerificationLock
from bot.core.identity.verification import list_locks


@dataclass(frozen=True)
class LockView:
    id: int
    scope: str
    key: str
    customer_id: int | None
    customer_name: str
    channel: str
    locked_until: datetime | None
    last_failure_at: datetime | None
    lock_count: int


async def list_lockouts(*, session: AsyncSession, org_id: int) -> list[LockView]:
    locks = await list_locks(session=session, org_id=org_id)
    ids = [int(lock.key) for lock in locks if lock.scope == "identity" and lock.key.isdigit()]
    people: dict[int, tuple[int, str, str]] = {}
    if ids:
        rows = await session.execute(
            select(ChannelIdentity.id, ChannelIdentity.channel, Customer.id, Customer.name)
            .join(Customer, Customer.id == ChannelIdentity.customer_id)
            .where(ChannelIdentity.org_id == org_id, ChannelIdentity.id.in_(ids))
        )
        people = {ident: (customer_id, name or f"Visitor #{customer_id}", channel) for ident, channel, customer_id, name in rows}
    views = []
    for lock in locks:
        customer_id, name, channel = people.get(int(lock.key), (None, "", "")) if lock.key.isdigit() else (None, "", "")
        views.append(LockView(id=lock.id, scope=lock.scope, key=lock.key, customer_id=customer_id, customer_name=name,
                              channel=channel, locked_until=lock.locked_until, last_failure_at=lock.last_failure_at,
                              lock_count=lock.lock_count))
    return views


async def unlock(*, session: AsyncSession, org_id: int, lock_id: int) -> VerificationLock:
    """Ends a lock now and forgets its wrong tries; tenant-checked."""
    lock = await session.get(VerificationLock, lock_id)
    if lock is None or lock.org_id != org_id:
        raise NotFound("no such lockout")
    lock.locked_until = None
    lock.failures = 0
    return lock
