"""Merging two customers of one organization into one, when a verified address shows they are the same person.

Every table with a `customer_id` column is found through Base.metadata, so tables added by later
features move with the customer without changes here (the app imports bot.all_models at start, so
every table, the channels' included, is known). Two organizations never merge.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Table, and_, exists, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import attributes

from bot.core.common.errors import InvalidInput, NotFound
from bot.core.conversations.models import Customer
from bot.core.orgs.audit import record
from bot.core.storage.base import Base
from bot.core.storage.batch import forget


@dataclass
class MergeReport:
    survivor_id: int
    merged_id: int
    moved: dict[str, int] = field(default_factory=dict)
    left_behind: dict[str, int] = field(default_factory=dict)


def customer_tables() -> list[Table]:
    return [t for t in Base.metadata.sorted_tables if "customer_id" in t.c and t.name != Customer.__tablename__]


def _unique_partners(table: Table) -> list[list[str]]:
    """For each unique constraint that includes customer_id, the other columns in it."""
    groups = []
    for constraint in table.constraints:
        names = [c.name for c in getattr(constraint, "columns", [])]
        if constraint.__class__.__name__ == "UniqueConstraint" and "customer_id" in names:
            groups.append([n for n in names if n != "customer_id"])
    for index in table.indexes:
        names = [c.name for c in index.columns]
        if index.unique and "customer_id" in names:
            groups.append([n for n in names if n != "customer_id"])
    return groups


async def _move_rows(session: AsyncSession, table: Table, org_id: int, survivor_id: int, loser_id: int) -> int:
    condition = table.c.customer_id == loser_id
    if "org_id" in table.c:
        condition = and_(condition, table.c.org_id == org_id)
    for partners in _unique_partners(table):
        # A row the survivor already has (same other key columns) stays with the merged customer rather than break uniqueness.
        twin = table.alias("twin")
        condition = and_(
            condition,
            ~exists().where(twin.c.customer_id == survivor_id, *[twin.c[n] == table.c[n] for n in partners]),
        )
    result = await session.execute(update(table).where(condition).values(customer_id=survivor_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def merge_customers(
    *, session: AsyncSession, org_id: int, survivor_id: int, loser_id: int, actor_type: str, actor_id: int | None, reason: str
) -> MergeReport:
    """Moves everything of `loser_id` to `survivor_id`; the merged customer stays as an empty row with status `merged`."""
    if survivor_id == loser_id:
        raise InvalidInput("a customer cannot be merged into itself")
    survivor = await session.get(Customer, survivor_id)
    loser = await session.get(Customer, loser_id)
    if survivor is None or loser is None or survivor.org_id != org_id or loser.org_id != org_id:
        raise NotFound("no such customer")  # another organization's customer is never touched
    await session.flush()  # pending rows must be in the database before the bulk updates
    report = MergeReport(survivor_id=survivor_id, merged_id=loser_id)
    for table in customer_tables():
        moved = await _move_rows(session, table, org_id, survivor_id, loser_id)
        if moved:
            report.moved[table.name] = moved
    await _sync_loaded_objects(session, loser_id, survivor_id)
    forget(session)  # the ingest batch's consents and rights requests moved with the rows
    _absorb(survivor, loser)
    await session.flush()
    await record(
        session=session, org_id=org_id, actor_type=actor_type, actor_id=actor_id, action="customer_merged",
        subject_type="customer", subject_id=survivor_id,
        detail={"merged_customer_id": loser_id, "moved": report.moved, "reason": reason},
    )
    return report


async def _sync_loaded_objects(session: AsyncSession, loser_id: int, survivor_id: int) -> None:
    """Objects already loaded in this session learn their new customer without another UPDATE."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Customer) or getattr(obj, "customer_id", None) != loser_id:
            continue
        if _unique_partners(obj.__table__):  # type: ignore[attr-defined]
            await session.refresh(obj, ["customer_id"])  # some rows may have stayed behind
        else:
            attributes.set_committed_value(obj, "customer_id", survivor_id)


def _absorb(survivor: Customer, loser: Customer) -> None:
    for name in ("name", "email", "phone"):
        if not getattr(survivor, name) and getattr(loser, name):
            setattr(survivor, name, getattr(loser, name))
    survivor.first_seen_at = min(survivor.first_seen_at, loser.first_seen_at)
    survivor.last_seen_at = max(survivor.last_seen_at, loser.last_seen_at)
    loser.status = "merged"
    loser.name, loser.email, loser.phone = "", None, None
    loser.verified_at = None
    loser.verification_method = None

