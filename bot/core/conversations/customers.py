"""Customers and their channel identities."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.clock import now
from bot.core.common.errors import NotFound
from bot.core.conversations.models import ChannelIdentity, Consent, Customer
from bot.core.storage.batch import batch_customers, keep, memo

LAST_SEEN_PRECISION = timedelta(minutes=1)


@dataclass
class ResolvedIdentity:
    identity: ChannelIdentity
    customer: Customer
    created: bool


async def resolve_identity(
    *, session: AsyncSession, org_id: int, channel: str, external_id: str, display_name: str = "", locale: str | None = None
) -> ResolvedIdentity:
    """The identity for (channel, external id) in this organization, creating it and its customer on first contact."""
    identity = await session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.org_id == org_id,
            ChannelIdentity.channel == channel,
            ChannelIdentity.external_id == external_id,
        )
    )
    if identity is not None:
        customer = await session.get(Customer, identity.customer_id)
        assert customer is not None  # FK guarantees it
        touch_seen(identity, customer, display_name)
        return ResolvedIdentity(identity=identity, customer=customer, created=False)
    customer = Customer(org_id=org_id, name=display_name, locale=locale if locale in ("en", "zh") else "en")
    session.add(customer)
    await session.flush()
    identity = ChannelIdentity(
        org_id=org_id, customer_id=customer.id, channel=channel, external_id=external_id, display_name=display_name, flow_state={}
    )
    session.add(identity)
    await session.flush()
    return ResolvedIdentity(identity=identity, customer=customer, created=True)


def touch_seen(identity: ChannelIdentity, customer: Customer, display_name: str = "") -> None:
    stamp = now()
    # A minute's precision is enough for "last seen" and saves two UPDATEs per message on the hot path.
    if stamp - identity.last_seen_at > LAST_SEEN_PRECISION:
        identity.last_seen_at = stamp
        customer.last_seen_at = stamp
    if display_name and not identity.display_name:
        identity.display_name = display_name


async def find_identity(*, session: AsyncSession, org_id: int, channel: str, external_id: str) -> ChannelIdentity | None:
    return await session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.org_id == org_id, ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
        )
    )


async def get_customer(*, session: AsyncSession, org_id: int, customer_id: int) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None or customer.org_id != org_id:
        raise NotFound("no such customer")
    return customer


async def list_identities(*, session: AsyncSession, org_id: int, customer_id: int) -> list[ChannelIdentity]:
    rows = await session.scalars(
        select(ChannelIdentity)
        .where(ChannelIdentity.org_id == org_id, ChannelIdentity.customer_id == customer_id)
        .order_by(ChannelIdentity.id)
    )
    return list(rows)


async def record_consent(
    *, session: AsyncSession, customer: Customer, policy_version: str, granted: bool, channel: str, purpose: str = "basic"
) -> Consent:
    consent = Consent(
        org_id=customer.org_id,
        customer_id=customer.id,
        policy_version=policy_version,
        purpose=purpose,
        granted=granted,
        channel=channel,
    )
    session.add(consent)
    await session.flush()
    kept = memo(session, "consents")
    if kept is not None and purpose == "basic" and customer.id in kept.customers:
        kept.latest[customer.id] = consent
        kept.counts[customer.id] = kept.counts.get(customer.id, 0) + 1
    return consent


@dataclass
class _BatchConsents:
    customers: frozenset[int]
    latest: dict[int, Consent]
    counts: dict[int, int]


# Built once (SQLAlchemy memoizes the cache key on the statement object): asked once per ingest batch.
_BATCH_ANSWERS = (
    select(Consent.customer_id, func.count(), func.max(Consent.id))
    .where(Consent.customer_id.in_(bindparam("customers", expanding=True)), Consent.purpose == "basic")
    .group_by(Consent.customer_id)
)
_CONSENTS_BY_ID = select(Consent).where(Consent.id.in_(bindparam("ids", expanding=True)))


async def _batch_consents(session: AsyncSession) -> _BatchConsents | None:
    """The latest basic consent and the number of answers of every customer of the ingest batch, read once
    (bot/core/storage/batch.py)."""
    kept = memo(session, "consents")
    if isinstance(kept, _BatchConsents):
        return kept
    customers = batch_customers(session)
    if customers is None:
        return None
    rows = (await session.execute(_BATCH_ANSWERS, {"customers": list(customers)})).all()
    counts = {int(c): int(n) for c, n, _ in rows}
    latest = (await session.scalars(_CONSENTS_BY_ID, {"ids": [i for _, _, i in rows]})).all() if rows else []
    return keep(session, "consents", _BatchConsents(customers, {c.customer_id: c for c in latest}, counts))  # type: ignore[no-any-return]


def keep_batch_consents(session: AsyncSession, customers: frozenset[int], latest: dict[int, Consent], counts: dict[int, int]) -> None:
    """What `_batch_consents` would read, read instead by the ingest writer's preload (ingest_batch.py)."""
    keep(session, "consents", _BatchConsents(customers, latest, counts))


async def latest_consent(*, session: AsyncSession, customer_id: int, purpose: str = "basic") -> Consent | None:
    if purpose == "basic":
        kept = await _batch_consents(session)
        if kept is not None and customer_id in kept.customers:
            return kept.latest.get(customer_id)
    return await session.scalar(
        select(Consent)
        .where(Consent.customer_id == customer_id, Consent.purpose == purpose)
        .order_by(Consent.id.desc())
        .limit(1)
    )


async def consent_count(*, session: AsyncSession, customer_id: int, purpose: str = "basic") -> int:
    """How many consent answers the customer has given: a notice's buttons carry it to tell old notices from new."""
    if purpose == "basic":
        kept = await _batch_consents(session)
        if kept is not None and customer_id in kept.customers:
            return kept.counts.get(customer_id, 0)
    count = await session.scalar(
        select(func.count()).select_from(Consent).where(Consent.customer_id == customer_id, Consent.purpose == purpose)
    )
    return int(count or 0)
