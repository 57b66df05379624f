"""Full-text search on both backends: words in messages and customer details, filters, tenant scope, odd input."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from bot.core.common.errors import InvalidInput
from bot.core.conversations.events import Reply
from bot.core.conversations.models import ChannelIdentity, Conversation, Customer, Message
from bot.core.conversations.outbound import send_to_conversation
from bot.core.search import SearchFilters, search
from bot.core.storage.db import transaction
from bot.core.triage.models import ConversationLabel
from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin, make_org
from tests.utils.webchat import Visitor


async def test_search_finds_words_in_messages_and_customers_within_the_organization(server: Server, demo: OrgWithAdmin) -> None:
    other = await make_org(server.ctx.factory, slug="other", name="Other Co")
    mine, theirs = Visitor(server.url), Visitor(server.url, org="other")
    try:
        await mine.open()
        ack = await mine.say("My parcel tracking number is ZX81 and the courier never came")
        await mine.say("Another unrelated line")
        await theirs.open()
        await theirs.say("their parcel is lost too")
    finally:
        await mine.close()
        await theirs.close()
    conversation_id = ack["message"]["conversation_id"]
    async with transaction(server.ctx.factory) as session:
        customer_id = (await session.get(Conversation, conversation_id)).customer_id  # type: ignore[union-attr]
        await session.execute(update(Customer).where(Customer.id == customer_id).values(name="Dora Parcelle", email="dora@example.com"))
        session.add(ConversationLabel(org_id=demo.org.id, conversation_id=conversation_id, label="shipping"))

    async with server.ctx.factory() as session:
        found = await search(session=session, org_id=demo.org.id, query="courier", filters=SearchFilters())
        assert [h.conversation_id for h in found.messages] == [conversation_id]
        assert "courier never came" in found.messages[0].text
        parcel = await search(session=session, org_id=demo.org.id, query="parcel", filters=SearchFilters())
        assert {h.conversation_id for h in parcel.messages} == {conversation_id}  # not the other organization's
        assert (await search(session=session, org_id=other.org.id, query="courier", filters=SearchFilters())).messages == []
        people = await search(session=session, org_id=demo.org.id, query="Dora", filters=SearchFilters())
        assert [c.name for c in people.customers] == ["Dora Parcelle"]
        by_mail = await search(session=session, org_id=demo.org.id, query="dora@example.com", filters=SearchFilters())
        assert [c.customer_id for c in by_mail.customers] == [customer_id]
        labelled = await search(session=session, org_id=demo.org.id, query="", filters=SearchFilters(label="shipping"))
        assert [h.conversation_id for h in labelled.messages] == [conversation_id]
        telegram = SearchFilters(channel="telegram")
        assert (await search(session=session, org_id=demo.org.id, query="courier", filters=telegram)).messages == []
        assert (await search(session=session, org_id=demo.org.id, query="courier", filters=SearchFilters(verified=True))).messages == []
        weird = await search(session=session, org_id=demo.org.id, query='"courier" OR NEAR( * :', filters=SearchFilters())
        assert weird.messages == [] or all("courier" in h.text for h in weird.messages)
        with pytest.raises(InvalidInput):
            await search(session=session, org_id=demo.org.id, query="x" * 500, filters=SearchFilters())


async def test_chinese_words_are_found_inside_chinese_sentences(server: Server, demo: OrgWithAdmin) -> None:
    """A Chinese sentence has no spaces: a word inside it is found (it was one indexed run), English is unchanged."""
    visitor, other = Visitor(server.url), Visitor(server.url)
    try:
        await visitor.open()
        refund = (await visitor.say("我想退款，订单号123"))["message"]["conversation_id"]
        await other.open()
        english = (await other.say("Where is my refund for order 123?"))["message"]["conversation_id"]
        await other.say("物流很慢")  # no word of the queries below
    finally:
        await visitor.close()
        await other.close()
    async with transaction(server.ctx.factory) as session:
        customer_id = (await session.get(Conversation, refund)).customer_id  # type: ignore[union-attr]
        await session.execute(update(Customer).where(Customer.id == customer_id).values(name="王小明"))

    async def found(query: str) -> set[int]:
        async with server.ctx.factory() as session:
            return {h.conversation_id for h in (await search(session=session, org_id=demo.org.id, query=query,
                                                             filters=SearchFilters())).messages}

    assert await found("退款") == {refund}
    assert await found("订单") == {refund}
    assert await found("订单号") == {refund}
    assert await found("退款 订单") == {refund}  # every word
    assert await found("订单号123") == {refund}
    assert await found("款") == {refund}  # one character, at the end of a word
    assert await found("退") == {refund}
    assert await found("款退") == set()  # the characters, but not in this order
    assert await found("单号退") == set()
    assert await found("refund") == {english}  # English as before: whole words
    assert await found("refun") == set()
    assert await found("123") == {refund, english}
    async with server.ctx.factory() as session:
        people = await search(session=session, org_id=demo.org.id, query="小明", filters=SearchFilters())
        assert [c.name for c in people.customers] == ["王小明"]
    async with transaction(server.ctx.factory) as session:  # an edited message is found by its new words only
        await session.execute(update(Message).where(Message.conversation_id == refund, Message.direction == "in")
                              .values(text="我要换货"))
    assert await found("退款") == set()
    assert await found("换货") == {refund}


async def test_the_bots_own_replies_are_not_searched_what_customers_and_agents_wrote_is(server: Server, demo: OrgWithAdmin) -> None:
    """Every conversation starts with the bot's privacy notice ("... export or delete your information ... Do you
    agree?"): indexed, a search for "delete" listed every conversation. The index holds customers', agents' and
    notes' words only (migration 0870), on both backends."""
    asker, greeted = Visitor(server.url), Visitor(server.url)
    try:
        await asker.open()
        asked = (await asker.say("Please delete my old address"))["message"]["conversation_id"]
        await asker.wait_message(lambda m: "Do you agree?" in m.get("text", ""))  # the notice is in this thread too
        await greeted.open()
        other = (await greeted.say("hello there"))["message"]["conversation_id"]
        await greeted.wait_message(lambda m: "Do you agree?" in m.get("text", ""))
    finally:
        await asker.close()
        await greeted.close()
    async with transaction(server.ctx.factory) as session:
        conversation = await session.get(Conversation, other)
        assert conversation is not None
        identity = await session.get(ChannelIdentity, conversation.identity_id)
        assert identity is not None
        await send_to_conversation(session=session, conversation=conversation, identity=identity,
                                   reply=Reply(text="I will export your invoices today"), author_type="agent",
                                   agent_id=demo.admin.id)
        session.add(Message(org_id=demo.org.id, conversation_id=other, direction="note", author_type="bot",
                            text="Pre-chat form — name: Agree Lee", delivery_state="internal"))
        bot_texts = (await session.scalars(select(Message.text).where(
            Message.conversation_id.in_([asked, other]), Message.author_type == "bot", Message.direction == "out"))).all()
    assert any("delete" in t and "export" in t for t in bot_texts)  # the words are in the bot's notices

    async def found(query: str) -> list[tuple[int, str]]:
        async with server.ctx.factory() as session:
            hits = (await search(session=session, org_id=demo.org.id, query=query, filters=SearchFilters())).messages
            return [(h.conversation_id, h.text) for h in hits]

    assert await found("delete") == [(asked, "Please delete my old address")]
    assert await found("export") == [(other, "I will export your invoices today")]  # the agent's words
    assert await found("agree") == [(other, "Pre-chat form — name: Agree Lee")]  # a note, not the notices
    assert await found("Privacy Policy") == []
