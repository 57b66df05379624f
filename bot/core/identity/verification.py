"""Identity checks by one-time code: issue, check, lock, and link the identity to the address's customer.

Codes come from `secrets`, are stored only as an HMAC under the server secret, compared in constant
time, and never logged. Every answer is the same whether or not the address already belongs to a
customer, so the flow cannot be used to find out who is a customer.

Limits are keyed so that nobody can lock another person out or learn about their activity: an identity
is locked after `max_attempts` wrong codes and told so; an address only after `address_max_attempts`
wrong codes from all identities. When an address is held back by what *other* identities did (locked,
a code sent to it a moment ago, its daily cap reached), the asking identity gets the same answer as
for a code sent, but no code is sent (the challenge is `withheld`), and its codes are simply wrong.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings, VerificationConfig
from bot.core.common.clock import now
from bot.core.common.errors import DomainError, RateLimited
from bot.core.conversations.models import ChannelIdentity, Customer
from bot.core.identity.codes import Destination, code_digest, new_code, normalize_code
from bot.core.identity.merge import merge_customers
from bot.core.identity.models import VerificationChallenge, VerificationLock
from bot.core.orgs.audit import record

ACTIVE = ("sending", "sent", "withheld")


class Locked(DomainError):
    """Too many wrong codes for this identity or this address; `until` is when it opens again."""

    status = 429
    code = "verification_locked"

    def __init__(self, until: datetime) -> None:
        super().__init__("too many wrong codes")
        self.until = until


class NoActiveCode(DomainError):
    code = "no_active_code"


class CodeExpired(DomainError):
    code = "code_expired"


class WrongCode(DomainError):
    code = "wrong_code"

    def __init__(self, remaining: int) -> None:
        super().__init__("wrong code")
        self.remaining = remaining


def is_fresh(customer: Customer, config: VerificationConfig) -> bool:
    if customer.verified_at is None:
        return False
    return now() - customer.verified_at < timedelta(hours=config.freshness_hours)


@dataclass(frozen=True)
class IssuedCode:
    challenge: VerificationChallenge
    destination: Destination
    code: str = field(repr=False)
    deliver: bool = True  # False: withheld because of other identities' activity; answer as if sent


async def _lock_row(session: AsyncSession, org_id: int, scope: str, key: str) -> VerificationLock | None:
    return await session.scalar(
        select(VerificationLock).where(
            VerificationLock.org_id == org_id, VerificationLock.scope == scope, VerificationLock.key == key
        )
    )


async def active_lock(*, session: AsyncSession, org_id: int, identity_id: int, destination: str | None) -> datetime | None:
    """The end of the lock on this identity or this address, if either is locked now."""
    keys = [("identity", str(identity_id))] + ([("destination", destination)] if destination else [])
    until: datetime | None = None
    for scope, key in keys:
        row = await _lock_row(session, org_id, scope, key)
        if row is not None and row.locked_until is not None and row.locked_until > now():
            until = max(until, row.locked_until) if until else row.locked_until
    return until


async def issue_code(
    *, session: AsyncSession, config: VerificationConfig, secret_key: str, identity: ChannelIdentity, destination: Destination
) -> IssuedCode:
    """A new challenge in state `sending` (the caller delivers the code and then marks it sent or discards it),
    or `withheld` with deliver=False when only other identities' activity holds the address back."""
    org_id = identity.org_id
    until = await active_lock(session=session, org_id=org_id, identity_id=identity.id, destination=None)
    if until is not None:
        raise Locked(until)
    stamp = now()
    await _check_own_limits(session, config, identity, destination.address, stamp)
    withheld = await _address_held_back(session, config, org_id, destination.address, stamp)
    await session.execute(
        update(VerificationChallenge)
        .where(VerificationChallenge.identity_id == identity.id, VerificationChallenge.state.in_(ACTIVE))
        .values(state="superseded")
        .execution_options(synchronize_session=False)
    )
    challenge = VerificationChallenge(
        org_id=org_id,
        identity_id=identity.id,
        customer_id=identity.customer_id,
        kind=destination.kind,
        destination=destination.address,
        state="withheld" if withheld else "sending",
        created_at=stamp,
        expires_at=stamp + timedelta(minutes=config.code_ttl_minutes),
    )
    session.add(challenge)
    await session.flush()
    code = new_code()
    challenge.code_hash = code_digest(secret_key, challenge.id, code)
    await session.flush()
    return IssuedCode(challenge=challenge, destination=destination, code=code, deliver=not withheld)


_SENT = VerificationChallenge.state != "withheld"


async def _check_own_limits(
    session: AsyncSession, config: VerificationConfig, identity: ChannelIdentity, address: str, stamp: datetime
) -> None:
    """This identity's own pace: told plainly, since it reveals nothing about anyone else."""
    mine = (VerificationChallenge.org_id == identity.org_id) & (VerificationChallenge.identity_id == identity.id)
    latest = await session.scalar(select(func.max(VerificationChallenge.created_at)).where(mine))
    if latest is not None:
        wait = config.resend_seconds - (stamp - latest).total_seconds()
        if wait > 0:
            raise RateLimited("a code was sent a moment ago", retry_after=wait)
    sent_today = await session.scalar(
        select(func.count()).select_from(VerificationChallenge).where(
            mine, VerificationChallenge.destination == address, VerificationChallenge.created_at > stamp - timedelta(days=1)
        )
    )
    if (sent_today or 0) >= config.daily_cap:
        raise RateLimited("too many codes for this address today", retry_after=24 * 3600)


async def _address_held_back(session: AsyncSession, config: VerificationConfig, org_id: int, address: str, stamp: datetime) -> bool:
    """Locked, or sent a code a moment ago, or at its daily cap: because of other identities (ours were checked before)."""
    lock = await _lock_row(session, org_id, "destination", address)
    if lock is not None and lock.locked_until is not None and lock.locked_until > stamp:
        return True
    to_address = (VerificationChallenge.org_id == org_id) & (VerificationChallenge.destination == address) & _SENT
    latest = await session.scalar(select(func.max(VerificationChallenge.created_at)).where(to_address))
    if latest is not None and (stamp - latest).total_seconds() < config.resend_seconds:
        return True
    today = VerificationChallenge.created_at > stamp - timedelta(days=1)
    sent_today = await session.scalar(select(func.count()).select_from(VerificationChallenge).where(to_address, today))
    return (sent_today or 0) >= config.daily_cap


async def current_challenge(*, session: AsyncSession, identity_id: int) -> VerificationChallenge | None:
    return await session.scalar(
        select(VerificationChallenge)
        .where(VerificationChallenge.identity_id == identity_id, VerificationChallenge.state.in_(ACTIVE))
        .order_by(VerificationChallenge.id.desc())
        .limit(1)
    )


@dataclass(frozen=True)
class Verified:
    customer: Customer
    challenge: VerificationChallenge
    merged_from: int | None


async def check_code(
    *, session: AsyncSession, config: VerificationConfig, secret_key: str, identity: ChannelIdentity, code_text: str,
    settings: Settings | None = None,
) -> Verified:
    """Checks a typed code. Raises InvalidInput (malformed, not counted), Locked, NoActiveCode, CodeExpired or WrongCode."""
    code = normalize_code(code_text)
    challenge = await current_challenge(session=session, identity_id=identity.id)
    until = await active_lock(session=session, org_id=identity.org_id, identity_id=identity.id, destination=None)
    if until is not None:
        raise Locked(until)
    if challenge is None:
        raise NoActiveCode("no code is waiting")
    if challenge.expires_at <= now():
        challenge.state = "expired"
        raise CodeExpired("the code has expired")
    address_locked = await active_lock(session=session, org_id=identity.org_id, identity_id=-1, destination=challenge.destination)
    right = hmac.compare_digest(challenge.code_hash, code_digest(secret_key, challenge.id, code))
    if not right or address_locked is not None or challenge.state == "withheld":  # held back by others: just wrong
        challenge.attempts += 1
        remaining, locked_until = await _count_failure(session, config, identity, challenge, settings)
        if locked_until is not None:
            raise Locked(locked_until)
        raise WrongCode(remaining)
    challenge.state = "verified"
    challenge.verified_at = now()
    await _clear_failures(session, identity.org_id, identity.id, challenge.destination)
    return await link_identity(session=session, identity=identity, challenge=challenge)


async def _count_failure(
    session: AsyncSession, config: VerificationConfig, identity: ChannelIdentity, challenge: VerificationChallenge,
    settings: Settings | None,
) -> tuple[int, datetime | None]:
    """One more wrong code against the identity and against the address; either reaching the limit locks both paths."""
    stamp = now()
    remaining = config.max_attempts
    locked_until: datetime | None = None
    limits = {"identity": config.max_attempts, "destination": config.address_max_attempts}
    for scope, key in (("identity", str(identity.id)), ("destination", challenge.destination)):
        row = await _lock_row(session, identity.org_id, scope, key)
        if row is None:
            row = VerificationLock(org_id=identity.org_id, scope=scope, key=key, failures=0, lock_count=0)
            session.add(row)
        if row.last_failure_at is not None and stamp - row.last_failure_at > timedelta(minutes=config.lock_minutes):
            row.failures = 0  # old failures are forgiven
        row.failures += 1
        row.last_failure_at = stamp
        if row.failures >= limits[scope]:
            row.failures = 0
            row.locked_until = stamp + timedelta(minutes=config.lock_minutes)
            row.lock_count += 1
            await session.flush()
            await record(
                session=session, org_id=identity.org_id, actor_type="system", actor_id=None, action="verification_locked",
                subject_type="channel_identity" if scope == "identity" else "verification_destination",
                subject_id=identity.id if scope == "identity" else None,
                detail={"category": "security", "scope": scope, "identity_id": identity.id,
                        "locked_until": row.locked_until.isoformat(), "lock_count": row.lock_count},
            )
            await _notify_admins(session, identity.org_id, row, settings)
            if scope == "identity":  # the address's lock is not this identity's business (no oracle)
                locked_until = row.locked_until
        elif scope == "identity":
            remaining = config.max_attempts - row.failures
    await session.flush()
    return remaining, locked_until


async def _notify_admins(session: AsyncSession, org_id: int, row: VerificationLock, settings: Settings | None) -> None:
    """Repeated failures are a security event for the organization's admins (when notifications are installed)."""
    try:
        from bot.core.notifications.fanout import raise_event
    except ImportError:  # the audit event above is the record either way
        return
    masked = f"identity #{row.key}"
    if row.scope == "destination":
        masked = Destination("email" if "@" in row.key else "sms", row.key).masked
    await raise_event(
        session=session, org_id=org_id, kind="identity_check_failures", subject_type="verification_lock", subject_id=row.id,
        title=f"Identity check locked after repeated wrong codes ({masked})", url="/workbench/verification/locks",
        dedup_key=f"verification_locked:{row.id}:{row.lock_count}", detail={"scope": row.scope, "target": masked},
        settings=settings,  # configured routes, public_url and per-target limits apply to these pushes too
    )


async def _clear_failures(session: AsyncSession, org_id: int, identity_id: int, destination: str) -> None:
    for scope, key in (("identity", str(identity_id)), ("destination", destination)):
        row = await _lock_row(session, org_id, scope, key)
        if row is not None:
            row.failures = 0


async def link_identity(*, session: AsyncSession, identity: ChannelIdentity, challenge: VerificationChallenge) -> Verified:
    """The identity now belongs to the customer who verified this address before in this organization (merging if
    another did). Only a code typed back counts: an address an agent typed on a customer, a pre-chat field or a
    Slack profile is a note, and never makes two customers one."""
    verified_before = (
        select(VerificationChallenge.id)
        .where(VerificationChallenge.org_id == identity.org_id, VerificationChallenge.customer_id == Customer.id,
               VerificationChallenge.kind == challenge.kind, VerificationChallenge.destination == challenge.destination,
               VerificationChallenge.state == "verified", VerificationChallenge.id != challenge.id)
        .exists()
    )
    owner = await session.scalar(
        select(Customer)
        .where(Customer.org_id == identity.org_id, Customer.status != "merged", Customer.id != identity.customer_id,
               verified_before)
        .order_by(Customer.id)
        .limit(1)
    )
    merged_from = None
    if owner is not None:
        merged_from = identity.customer_id
        await merge_customers(
            session=session, org_id=identity.org_id, survivor_id=owner.id, loser_id=identity.customer_id,
            actor_type="system", actor_id=None, reason=f"verified {challenge.kind}",
        )
    customer = await session.get(Customer, identity.customer_id)
    assert customer is not None
    if challenge.kind == "email":
        customer.email = challenge.destination
    else:
        customer.phone = challenge.destination
    customer.verified_at = now()
    customer.verification_method = challenge.kind
    challenge.customer_id = customer.id
    await record(
        session=session, org_id=identity.org_id, actor_type="customer", actor_id=customer.id, action="identity_verified",
        subject_type="customer", subject_id=customer.id,
        detail={"method": challenge.kind, "identity_id": identity.id, "channel": identity.channel, "merged_from": merged_from},
    )
    return Verified(customer=customer, challenge=challenge, merged_from=merged_from)


async def mark_sent(*, session: AsyncSession, challenge_id: int) -> None:
    await session.execute(
        update(VerificationChallenge)
        .where(VerificationChallenge.id == challenge_id, VerificationChallenge.state == "sending")
        .values(state="sent", sent_at=now())
    )


async def pending_challenge(
    *, session: AsyncSession, challenge_id: int, secret_key: str, code: str
) -> VerificationChallenge | None:
    """The committed challenge this code was issued for, if it still waits for delivery (else the send is dropped)."""
    challenge = await session.get(VerificationChallenge, challenge_id)
    if challenge is None or challenge.state != "sending":
        return None
    if not hmac.compare_digest(challenge.code_hash, code_digest(secret_key, challenge.id, code)):
        return None  # a rolled-back attempt whose id was reused
    return challenge


async def list_locks(*, session: AsyncSession, org_id: int) -> list[VerificationLock]:
    rows = await session.scalars(
        select(VerificationLock)
        .where(VerificationLock.org_id == org_id, VerificationLock.locked_until > now())
        .order_by(VerificationLock.locked_until.desc())
        .limit(500)
    )
    return list(rows)
