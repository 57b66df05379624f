# ruff: noqa: F811 - the shared fixtures are imported from test_verification
"""Verifying one address from two identities makes one customer; another organization's customer stays apart."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.core.common.errors import NotFound
from bot.core.conversations.customers import record_consent, resolve_identity
from bot.core.conversations.models import ChannelIdentity, Consent, Conversation, Customer
from bot.core.conversations.threads import open_conversation_for
from bot.core.identity.codes import parse_destination
from bot.core.identity.merge import customer_tables, merge_customers
from bot.core.identity.verification import check_code, issue_code, mark_sent
from bot.core.orgs.models import AuditEvent
from bot.core.storage.db import SessionFactory, transaction
from tests.conftest import SECRET
from tests.core.test_verification import CONFIG, Clock, factory, time  # noqa: F401 - fixtures
from tests.utils.factories import make_org


async def _identity_with_history(factory: SessionFactory, org_id: int, channel: str, external_id: str) -> ChannelIdentity:
    async with transaction(factory) as session:
        identity = (await resolve_identity(session=session, org_id=org_id, channel=channel, external_id=external_id)).identity
        await open_conversation_for(session=session, identity=identity)
        customer = await session.get(Customer, identity.customer_id)
        assert customer is not None
        await record_consent(session=session, customer=customer, policy_version="v1", granted=True, channel=channel)
        return identity


async def _verify(factory: SessionFactory, identity: ChannelIdentity, address: str) -> int:
    async with transaction(factory) as session:
        identity = await session.get_one(ChannelIdentity, identity.id)
        issued = await issue_code(
            session=session, config=CONFIG, secret_key=SECRET, identity=identity, destination=parse_destination(address)
        )
        await mark_sent(session=session, challenge_id=issued.challenge.id)
        result = await check_code(session=session, config=CONFIG, secret_key=SECRET, identity=identity, code_text=issued.code)
        return result.customer.id


async def test_two_identities_of_one_person_merge_and_other_org_stays_separate(factory: SessionFactory, time: Clock) -> None:
    demo = (await make_org(factory, slug="demo")).org
    other = (await make_org(factory, slug="other", name="Other Co")).org
    web = await _identity_with_history(factory, demo.id, "webchat", "visitor-1")
    tg = await _identity_with_history(factory, demo.id, "telegram", "777")
    stranger = await _identity_with_history(factory, other.id, "webchat", "visitor-2")

    first = await _verify(factory, web, "alice@example.com")
    time.advance(seconds=CONFIG.resend_seconds)
    second = await _verify(factory, tg, "ALICE@example.com")
    third = await _verify(factory, stranger, "alice@example.com")

    assert first == second == web.customer_id
    assert third == stranger.customer_id != first
    async with factory() as session:
        identities = (await session.scalars(select(ChannelIdentity).where(ChannelIdentity.org_id == demo.id))).all()
        assert {i.customer_id for i in identities} == {first}
        conversations = (await session.scalars(select(Conversation).where(Conversation.org_id == demo.id))).all()
        assert len(conversations) == 2 and {c.customer_id for c in conversations} == {first}
        consents = (await session.scalars(select(Consent).where(Consent.org_id == demo.id))).all()
        assert {c.customer_id for c in consents} == {first}
        merged = await session.get(Customer, tg.customer_id)
        assert merged is not None and merged.status == "merged" and merged.email is None
        survivor = await session.get(Customer, first)
        assert survivor is not None and survivor.email == "alice@example.com" and survivor.verification_method == "email"
        outsider = await session.get(Customer, third)
        assert outsider is not None and outsider.org_id == other.id and outsider.status == "active"
        other_rows = (await session.scalars(select(Conversation).where(Conversation.org_id == other.id))).all()
        assert {c.customer_id for c in other_rows} == {third}
        audit = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "customer_merged"))).all()
        assert len(audit) == 1 and audit[0].org_id == demo.id
        assert audit[0].subject_id == first and audit[0].detail["merged_customer_id"] == tg.customer_id
        assert audit[0].detail["moved"]["conversations"] == 1


async def test_customers_of_two_organizations_never_merge(factory: SessionFactory) -> None:
    demo = (await make_org(factory, slug="demo")).org
    other = (await make_org(factory, slug="other", name="Other Co")).org
    mine = await _identity_with_history(factory, demo.id, "webchat", "v1")
    theirs = await _identity_with_history(factory, other.id, "webchat", "v2")
    async with transaction(factory) as session:
        with pytest.raises(NotFound):
            await merge_customers(session=session, org_id=demo.id, survivor_id=mine.customer_id, loser_id=theirs.customer_id,
                                  actor_type="system", actor_id=None, reason="test")


def test_every_table_with_a_customer_is_covered() -> None:
    names = {t.name for t in customer_tables()}
    assert {"channel_identities", "conversations", "attachments", "consents", "verification_challenges"} <= names


async def test_an_address_typed_on_a_customer_never_merges_only_a_verified_one_does(factory: SessionFactory, time: Clock) -> None:
    from bot.core.customer_context import update_contact

    demo = (await make_org(factory, slug="demo")).org
    typed = await _identity_with_history(factory, demo.id, "webchat", "visitor-typed")
    async with transaction(factory) as session:  # an agent writes an address on a customer: a note, not a proof
        await update_contact(session=session, org_id=demo.id, customer_id=typed.customer_id, name="Someone",
                             email="alice@example.com", phone="")
    verifier = await _identity_with_history(factory, demo.id, "telegram", "555")
    later = await _identity_with_history(factory, demo.id, "slack", "U0ALICE")

    first = await _verify(factory, verifier, "alice@example.com")
    time.advance(seconds=CONFIG.resend_seconds)
    second = await _verify(factory, later, "alice@example.com")

    assert first == verifier.customer_id != typed.customer_id  # not merged into the customer with the typed address
    assert second == first  # the address verified before does merge
    async with factory() as session:
        untouched = await session.get(Customer, typed.customer_id)
        assert untouched is not None and untouched.status == "active" and untouched.email == "alice@example.com"
        merges = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "customer_merged"))).all()
        assert [m.detail["merged_customer_id"] for m in merges] == [later.customer_id]
