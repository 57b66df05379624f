"""One-time codes: format checks, HMAC storage, expiry, replay, resend limits, lockouts (time controlled, not slept)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from bot.config import VerificationConfig
from bot.core.common import clock
from bot.core.common.errors import InvalidInput, RateLimited
from bot.core.conversations.customers import resolve_identity
from bot.core.conversations.models import ChannelIdentity
from bot.core.identity.codes import normalize_code, parse_destination
from bot.core.identity.models import VerificationChallenge
from bot.core.identity.verification import (
    CodeExpired,
    Locked,
    NoActiveCode,
    WrongCode,
    check_code,
    issue_code,
    list_locks,
    mark_sent,
)
from bot.core.orgs.models import AuditEvent
from bot.core.storage.db import SessionFactory, create_engine, session_factory, transaction
from tests.conftest import SECRET
from tests.utils.factories import make_org

CONFIG = VerificationConfig()
T0 = datetime(2026, 3, 1, 9, 0, 0)


@pytest.fixture
async def factory(db_url: str) -> AsyncIterator[SessionFactory]:
    engine = create_engine(db_url)
    yield session_factory(engine)
    await engine.dispose()


class Clock:
    def __init__(self) -> None:
        self.now = T0
        clock.set_clock(lambda: self.now)

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def time() -> Clock:
    return Clock()


async def _identity(factory: SessionFactory, org_id: int, external_id: str) -> ChannelIdentity:
    async with transaction(factory) as session:
        return (await resolve_identity(session=session, org_id=org_id, channel="webchat", external_id=external_id)).identity


async def _issue(factory: SessionFactory, identity: ChannelIdentity, address: str) -> str:
    async with transaction(factory) as session:
        issued = await issue_code(
            session=session, config=CONFIG, secret_key=SECRET, identity=identity, destination=parse_destination(address)
        )
        await mark_sent(session=session, challenge_id=issued.challenge.id)
        return issued.code


async def _check(factory: SessionFactory, identity: ChannelIdentity, code: str, config: VerificationConfig = CONFIG) -> object:
    """Runs check_code in its own transaction; returns the result or the domain error raised (the transaction still commits)."""
    async with transaction(factory) as session:
        identity = await session.get_one(ChannelIdentity, identity.id)
        try:
            return await check_code(session=session, config=config, secret_key=SECRET, identity=identity, code_text=code)
        except (InvalidInput, Locked, NoActiveCode, CodeExpired, WrongCode) as exc:
            return exc


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


@pytest.mark.parametrize(
    "text", ["", "alice", "alice@", "@example.com", "alice@example", "a b@example.com", "alice@@example.com", "12345",
             "+0123456789", "+86 138", "phone: +8613800000000", "x" * 250 + "@example.com"]
)
def test_malformed_addresses_are_refused_with_a_clear_message(text: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_destination(text)
    assert "not a valid" in err.value.message


def test_addresses_are_normalized() -> None:
    assert parse_destination(" Alice@Example.COM ").address == "alice@example.com"
    phone = parse_destination("+86 138-0000 0000")
    assert (phone.kind, phone.address) == ("sms", "+8613800000000")
    assert parse_destination("0086 13800000000").address == "+8613800000000"
    assert parse_destination("alice@example.com").masked == "a***@example.com"


@pytest.mark.parametrize("text", ["12345", "1234567", "12a456", "", "١٢٣٤٥٦", "12 34 5"])
def test_codes_of_the_wrong_shape_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        normalize_code(text)


def test_codes_with_spaces_or_dashes_are_read_as_digits() -> None:
    assert normalize_code(" 123 456 ") == "123456"
    assert normalize_code("123-456") == "123456"
    assert normalize_code("１２３４５６") == "123456"  # full-width digits from a Chinese input method


async def test_code_is_stored_only_as_hmac_and_cannot_be_replayed(factory: SessionFactory, time: Clock) -> None:
    org = (await make_org(factory)).org
    alice = await _identity(factory, org.id, "alice")
    code = await _issue(factory, alice, "alice@example.com")
    async with factory() as session:
        row = await session.scalar(select(VerificationChallenge))
        assert row is not None and code not in row.code_hash and len(row.code_hash) == 64
        assert all(code not in str(getattr(row, c.key)) for c in VerificationChallenge.__table__.columns)
    malformed = await _check(factory, alice, code[:5])
    assert isinstance(malformed, InvalidInput)
    result = await _check(factory, alice, code)
    assert not isinstance(result, Exception)
    assert isinstance(await _check(factory, alice, code), NoActiveCode)  # replayed


async def test_expired_code_is_refused(factory: SessionFactory, time: Clock) -> None:
    org = (await make_org(factory)).org
    alice = await _identity(factory, org.id, "alice")
    code = await _issue(factory, alice, "alice@example.com")
    time.advance(minutes=CONFIG.code_ttl_minutes, seconds=1)
    assert isinstance(await _check(factory, alice, code), CodeExpired)
    assert isinstance(await _check(factory, alice, code), NoActiveCode)


async def test_lockout_after_five_wrong_codes_refuses_the_right_one_until_it_ends(factory: SessionFactory, time: Clock) -> None:
    org = (await make_org(factory)).org
    alice = await _identity(factory, org.id, "alice")
    code = await _issue(factory, alice, "alice@example.com")
    for remaining in (4, 3, 2, 1):
        result = await _check(factory, alice, _wrong(code))
        assert isinstance(result, WrongCode) and result.remaining == remaining
    locked = await _check(factory, alice, _wrong(code))
    assert isinstance(locked, Locked) and locked.until == T0 + timedelta(minutes=CONFIG.lock_minutes)
    time.advance(minutes=1)
    assert isinstance(await _check(factory, alice, code), Locked)  # the 6th attempt, with the right code
    async with transaction(factory) as session:
        with pytest.raises(Locked):  # no new code while locked either
            await issue_code(session=session, config=CONFIG, secret_key=SECRET, identity=alice,
                             destination=parse_destination("alice@example.com"))
        assert {lock.scope for lock in await list_locks(session=session, org_id=org.id)} == {"identity"}  # not the address
        events = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "verification_locked"))).all()
        assert events and all(e.detail["category"] == "security" for e in events)
    time.advance(minutes=CONFIG.lock_minutes)
    assert isinstance(await _check(factory, alice, code), CodeExpired)  # the lock outlasts the code
    fresh = await _issue(factory, alice, "alice@example.com")
    assert not isinstance(await _check(factory, alice, fresh), Exception)


async def test_many_identities_against_one_address_lock_the_address(factory: SessionFactory, time: Clock) -> None:
    org = (await make_org(factory)).org
    config = VerificationConfig(address_max_attempts=6)
    attackers = [await _identity(factory, org.id, f"attacker{i}") for i in range(config.address_max_attempts + 1)]
    codes = []
    for attacker in attackers:
        codes.append(await _issue(factory, attacker, "victim@example.com"))
        time.advance(seconds=config.resend_seconds)
    for attacker, code in zip(attackers[:-1], codes, strict=False):
        result = await _check(factory, attacker, _wrong(code), config)
        assert isinstance(result, WrongCode) and result.remaining == config.max_attempts - 1  # nothing about the address
    async with factory() as session:
        assert {lock.scope for lock in await list_locks(session=session, org_id=org.id)} == {"destination"}
    result = await _check(factory, attackers[-1], codes[-1], config)  # even the right code, from a fresh identity
    assert isinstance(result, WrongCode)  # told it is wrong, not that someone else locked the address


async def test_an_attackers_wrong_codes_do_not_lock_out_the_owner_of_the_address(factory: SessionFactory, time: Clock) -> None:
    org = (await make_org(factory)).org
    attacker, owner = await _identity(factory, org.id, "attacker"), await _identity(factory, org.id, "owner")
    code = await _issue(factory, attacker, "+8613800000000")
    for _ in range(CONFIG.max_attempts):
        result = await _check(factory, attacker, _wrong(code))
    assert isinstance(result, Locked)  # the attacker's own identity
    time.advance(seconds=CONFIG.resend_seconds)
    own = await _issue(factory, owner, "+8613800000000")
    assert not isinstance(await _check(factory, owner, own), Exception)


async def test_another_identitys_recent_code_is_neither_revealed_nor_usable(factory: SessionFactory, time: Clock) -> None:
    org = (await make_org(factory)).org
    first, second = await _identity(factory, org.id, "first"), await _identity(factory, org.id, "second")
    await _issue(factory, first, "someone@example.com")
    async with transaction(factory) as session:  # a moment later, from another identity: no "sent a moment ago"
        issued = await issue_code(session=session, config=CONFIG, secret_key=SECRET, identity=second,
                                  destination=parse_destination("someone@example.com"))
        assert not issued.deliver and issued.challenge.state == "withheld"
        withheld_code = issued.code
    assert isinstance(await _check(factory, second, withheld_code), WrongCode)  # nothing was sent, nothing matches


async def test_resend_interval_and_daily_cap(factory: SessionFactory, time: Clock) -> None:
    org = (await make_org(factory)).org
    alice = await _identity(factory, org.id, "alice")
    await _issue(factory, alice, "alice@example.com")
    with pytest.raises(RateLimited) as err:
        await _issue(factory, alice, "alice@example.com")
    assert 0 < err.value.retry_after <= CONFIG.resend_seconds
    for _ in range(CONFIG.daily_cap - 1):
        time.advance(seconds=CONFIG.resend_seconds)
        await _issue(factory, alice, "alice@example.com")
    time.advance(seconds=CONFIG.resend_seconds)
    with pytest.raises(RateLimited) as err:
        await _issue(factory, alice, "alice@example.com")
    assert err.value.retry_after > 3600
    time.advance(days=1)
    await _issue(factory, alice, "alice@example.com")


async def test_a_new_code_replaces_the_previous_one(factory: SessionFactory, time: Clock) -> None:
    org = (await make_org(factory)).org
    alice = await _identity(factory, org.id, "alice")
    first = await _issue(factory, alice, "alice@example.com")
    time.advance(seconds=CONFIG.resend_seconds)
    second = await _issue(factory, alice, "alice@example.com")
    if first != second:
        assert isinstance(await _check(factory, alice, first), WrongCode)
    assert not isinstance(await _check(factory, alice, second), Exception)
