"""Facts read once for a whole ingest batch instead of once per event.

The ingest writer names the batch's customers in its session (`begin_batch`); a service that flows call on every
message (latest consent, open rights requests) then reads its fact for all of them with one query the first
time it is asked, keeps the answers in the session (one transaction, under the writer's turn) and keeps them true
when the same transaction writes (a consent recorded, a request opened). Outside a batch nothing is kept.

A fact can also come with the batch's preload (`PreloadedFact`): a column of the writer's one query per batch,
correlated with each customer, so the flows' first question costs no query of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

_CUSTOMERS = "incs.batch_customers"
_MOVED = "incs.batch_rows_moved"


@dataclass(frozen=True)
class PreloadedFact:
    """`column(customer_id)` is a scalar correlated with the customers' id column, read with the batch's preload;
    `keep(session, customers, values)` keeps the answer for all the batch's customers, given the values read for
    the preloaded ones (the others are new customers)."""

    name: str
    column: Callable[[Any], Any]
    keep: Callable[[AsyncSession, frozenset[int], dict[int, Any]], None]


_FACTS: dict[str, PreloadedFact] = {}


def preload_fact(fact: PreloadedFact) -> None:
    """Registered by the package that owns the fact, when it is imported."""
    _FACTS[fact.name] = fact


def preloaded_facts() -> tuple[PreloadedFact, ...]:
    return tuple(_FACTS.values())


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
    session.info[_MOVED] = True


def rows_moved(session: AsyncSession) -> bool:
    """Whether this transaction moved rows between customers: another chat's customer may have changed, so the
    next ingest batch is read only after this one has committed."""
    return bool(session.info.get(_MOVED))
