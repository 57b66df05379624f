"""Facts read once for a whole ingest batch instead of once per event.

The ingest writer names the batch's customers in its session (`begin_batch`); a service that flows call on every
message (latest consent, open rights requests) then reads its fact for all of them with one query the first
time it is asked, keeps the answers in the session (one transaction, under the writer's turn) and keeps them true
when the same transaction writes (a consent recorded, a request opened). Outside a batch nothing is kept.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

_CUSTOMERS = "incs.batch_customers"


def begin_batch(session: AsyncSession, customer_ids: Collection[int]) -> None:
    session.info[_CUSTOMERS] = frozenset(customer_ids)


def batch_customers(session: AsyncSession) -> frozenset[int] | None:
    found: Any = session.info.get(_CUSTOMERS)
    return found if isinstance(found, frozenset) else None


def memo(session: AsyncSession, name: str) -> Any:
    return session.info.get(f"incs.memo.{name}")


def keep(session: AsyncSession, name: str, value: Any) -> Any:
    session.info[f"incs.memo.{name}"] = value
    return value


def forget(session: AsyncSession) -> None:
    """Rows moved between customers (a merge): what was read for the batch is read again when next asked."""
    for key in [k for k in session.info if isinstance(k, str) and k.startswith("incs.memo.")]:
        del session.info[key]
