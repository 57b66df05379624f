"""Customers and their channel identities."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.clock import now
from bot.core.common.errors import NotFound
from bot.core.models import ChannelIdentity, Consent, Customer

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
    return consent


def latest_consent_version(purpose: str = "basic") -> ColumnElement[str | None]:
    """The policy version of the customer's latest consent answer (NULL: never answered), correlated to customers.id:
    the ingest batch reads it with its customers instead of a query per message."""
    return (
        select(Consent.policy_version)
        .where(Consent.customer_id == Customer.id, Consent.purpose == purpose)
        .order_by(Consent.id.desc())
        .limit(1)
        .scalar_subquery()
    )


async def latest_consent(*, session: AsyncSession, customer_id: int, purpose: str = "basic") -> Consent | None:
    return await session.scalar(
        select(Consent)
        .where(Consent.customer_id == customer_id, Consent.purpose == purpose)
        .order_by(Consent.id.desc())
        .limit(1)
    )


async def consent_count(*, session: AsyncSession, customer_id: int, purpose: str = "basic") -> int:
    """How many consent answers the customer has given: a notice's buttons carry it to tell old notices from new."""
    count = await session.scalar(
        select(func.count()).select_from(Consent).where(Consent.customer_id == customer_id, Consent.purpose == purpose)
    )
    return int(count or 0)
