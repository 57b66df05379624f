"""An ingest whose preload went stale before it wrote: another process created the same new chat meanwhile (two
processes behind one Slack app or Telegram bot, each taking one of a new customer's first events), or a retention
sweep deleted the chat's conversation meanwhile (PostgreSQL: the sweep takes no SQLite write turn). Its write
meets a unique or foreign key, nothing is written, and the event is read and handled once more from what is
stored now: the caller gets its acknowledgement, not an error that leaves the platform to retry."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from bot.core.common.errors import DomainError
from bot.core.conversations import ingest, ingest_batch, ingest_writes
from bot.core.conversations.customers import resolve_identity
from bot.core.conversations.events import InboundEvent
from bot.core.conversations.models import ChannelIdentity, Conversation, Customer, Message
from bot.core.delivery.models import OutboxItem
from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin


def event(org_id: int, who: str, text: str) -> InboundEvent:
    return InboundEvent(org_id=org_id, channel="slack", external_id=who, kind="text", text=text, display_name=f"User {who}")


def after_the_preload_once(monkeypatch: pytest.MonkeyPatch, meanwhile: Any) -> list[int]:
    """Runs `meanwhile()` (in a transaction of its own, committed) between the ingest's preload and its writes, the
    first time only; returns the list it counts the calls in."""
    real, calls = ingest_writes.create_first_contacts, []

    async def stale(**kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            await meanwhile()
        return await real(**kwargs)

    monkeypatch.setattr(ingest, "create_first_contacts", stale)
    return calls


def no_failure_logged(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.name == ingest.log.name and (r.exc_info or "failed" in r.getMessage())]


async def test_a_new_chat_another_process_created_meanwhile_is_stored_under_that_chat(
    server: Server, demo: OrgWithAdmin, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    org_id = demo.org.id

    async def other_process() -> None:  # its own connection, no write turn: as another process would
        async with server.ctx.factory() as session, session.begin():
            made = await resolve_identity(session=session, org_id=org_id, channel="slack", external_id="U-race", display_name="User U-race")
            assert made.created

    calls = after_the_preload_once(monkeypatch, other_process)
    caplog.set_level(logging.INFO, logger=ingest.log.name)
    result = await server.ctx.ingestor.submit(event(org_id, "U-race", "hello from two places"))
    assert len(calls) == 2  # read again once
    async with server.ctx.factory() as session:
        identities = (await session.scalars(
            select(ChannelIdentity).where(ChannelIdentity.org_id == org_id, ChannelIdentity.external_id == "U-race")
        )).all()
        assert [i.id for i in identities] == [result.identity_id]  # the other process's chat, not a second one
        assert await session.scalar(select(func.count()).select_from(Customer).where(Customer.org_id == org_id)) == 1
        stored = (await session.scalars(select(Message).where(Message.text == "hello from two places"))).all()
        assert [m.identity_id for m in stored] == [result.identity_id]
    assert any("read again" in r.getMessage() for r in caplog.records)
    no_failure_logged(caplog)


async def test_a_conversation_deleted_meanwhile_gets_the_message_in_a_new_one(
    server: Server, demo: OrgWithAdmin, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    org_id = demo.org.id
    first = await server.ctx.ingestor.submit(event(org_id, "U-kept", "an old question"))
    gone = first.conversation_id
    caplog.set_level(logging.INFO, logger=ingest.log.name)

    async def retention_sweep() -> None:  # deletes the conversation the preload has just read, with its messages
        async with server.ctx.factory() as session, session.begin():
            ids = select(Message.id).where(Message.conversation_id == gone).scalar_subquery()
            await session.execute(delete(OutboxItem).where(OutboxItem.message_id.in_(ids)))
            await session.execute(delete(Message).where(Message.conversation_id == gone))
            await session.execute(delete(Conversation).where(Conversation.id == gone))

    calls = after_the_preload_once(monkeypatch, retention_sweep)
    result = await server.ctx.ingestor.submit(event(org_id, "U-kept", "a new question"))
    assert len(calls) == 2
    assert result.new_conversation and result.identity_id == first.identity_id  # (SQLite may give it the old id)
    async with server.ctx.factory() as session:
        assert (await session.scalars(select(Message.text).where(Message.conversation_id == result.conversation_id,
                                                                  Message.direction == "in"))).all() == ["a new question"]
        stored = (await session.scalars(select(Message).where(Message.text == "a new question"))).all()
        assert [m.conversation_id for m in stored] == [result.conversation_id]
    no_failure_logged(caplog)


async def test_a_write_that_fails_again_after_reading_again_is_answered_with_an_error(
    server: Server, demo: OrgWithAdmin, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Read again once, not forever: a conflict that stays is the caller's clear error, nothing half-written."""
    org_id = demo.org.id
    async with server.ctx.factory() as session, session.begin():
        await resolve_identity(session=session, org_id=org_id, channel="slack", external_id="U-again")
    real_load, creates = ingest_batch.Preloaded.load, []

    async def blind_load(session: Any, events: list[InboundEvent]) -> Any:  # never sees the chat: it looks new each time
        known = await real_load(session, events)
        known.identities.clear()
        return known

    real_create = ingest_writes.create_first_contacts

    async def counted(**kwargs: Any) -> Any:
        creates.append(1)
        return await real_create(**kwargs)

    monkeypatch.setattr(ingest_batch.Preloaded, "load", staticmethod(blind_load))
    monkeypatch.setattr(ingest, "create_first_contacts", counted)
    with pytest.raises(DomainError) as answer:
        await server.ctx.ingestor.submit(event(org_id, "U-again", "hello again"))
    assert answer.value.message == "the message could not be stored"
    assert len(creates) == 2
    async with server.ctx.factory() as session:
        assert await session.scalar(select(func.count()).select_from(Message).where(Message.text == "hello again")) == 0
        assert await session.scalar(select(func.count()).select_from(ChannelIdentity).where(ChannelIdentity.external_id == "U-again")) == 1
