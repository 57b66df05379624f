"""The ingest writer's batch writes: new chats of a batch are created with one INSERT per table, a batch's
messages and outbox rows are one INSERT each, conversation touches one UPDATE, and the rows are those the
one-by-one path wrote (each inbound message followed by its replies, ids ascending in event order)."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.pool import QueuePool

from bot.core.common.errors import DomainError, ServiceUnavailable
from bot.core.conversations import ingest, ingest_batch, ingest_writes
from bot.core.conversations.events import InboundEvent, Reply
from bot.core.conversations.ingest_batch import InFlight, IngestResult, Item
from bot.core.conversations.models import ChannelIdentity, Conversation, Customer, Message
from bot.core.delivery import outbox
from bot.core.delivery.models import OutboxItem
from bot.core.notices.policy import publish
from bot.core.storage.batch import forget
from bot.core.storage.db import transaction
from tests.conftest import Server
from tests.utils.db import transactions_sent
from tests.utils.factories import OrgWithAdmin, make_platform_admin

# a statement's own verb, or one of its data-modifying CTEs' (PostgreSQL: WITH t AS (UPDATE ...) INSERT ...)
_VERB = re.compile(r"(?:^|\(|\)\s)\s*(INSERT INTO|UPDATE)\s+\"?(\w+)", re.IGNORECASE)


@contextmanager
def statements(server: Server) -> Iterator[Counter[str]]:
    """Counts the writes the database receives, as "INSERT customers" / "UPDATE conversations" (a data-modifying
    CTE counts as its own write, though it shares a round trip with its statement)."""
    seen: Counter[str] = Counter()

    def count(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        for match in _VERB.finditer(sql):
            seen[f"{match.group(1).split()[0].upper()} {match.group(2)}"] += 1

    engine = server.ctx.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


@contextmanager
def begins_and_commits(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The BEGINs, COMMITs and ROLLBACKs the ingest writer sends PostgreSQL (asyncpg's transactions; SQLite: none)."""
    with transactions_sent(monkeypatch, lambda name: name == "ingest-writer") as sent:
        yield sent


def chat(org_id: int, who: str, text: str, platform_id: str | None = None) -> InboundEvent:
    return InboundEvent(org_id=org_id, channel="telegram", external_id=who, kind="text", text=text,
                        display_name=f"User {who}", platform_message_id=platform_id)


def answer_every_message(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """The flows answer every message: each batch queues outbox rows, so on PostgreSQL it is one transaction with a
    COMMIT to send (during which the next batch is read and handled), not one statement that commits itself."""
    flows = server.ctx.ingestor.flows
    run = flows.run

    async def answering(turn: Any) -> Any:
        return [*await run(turn), Reply(text="noted")]

    monkeypatch.setattr(flows, "run", answering)


async def assert_each_chat_in_order(server: Server, chats: list[str], results: list[IngestResult], unread: int) -> None:
    """Each chat's messages (texts "<chat> …") got ascending ids, and its conversation counts them all, the last one
    its preview."""
    async with server.ctx.factory() as session:
        for who in chats:
            mine = [r for r in results if r.message["text"].startswith(f"{who} ")]
            assert [r.message["id"] for r in mine] == sorted(r.message["id"] for r in mine), who
            conversation = await session.get(Conversation, mine[0].conversation_id)
            assert conversation is not None, who
            assert conversation.unread_count == unread, (who, conversation.unread_count)
            assert conversation.last_message_preview == mine[-1].message["text"]


async def together(server: Server, events: list[InboundEvent]) -> list[IngestResult]:
    """Submitted in one go, so the writer takes them as one batch."""
    return list(await asyncio.gather(*(server.ctx.ingestor.submit(e) for e in events)))


async def test_first_contact_of_many_chats_is_one_insert_per_table(server: Server, demo: OrgWithAdmin) -> None:
    events = [chat(demo.org.id, f"{1000 + n}", f"hello {n}", f"p{n}") for n in range(30)]
    with statements(server) as seen:
        results = await together(server, events)
    for table in ("customers", "channel_identities", "conversations", "messages", "outbox"):
        assert seen[f"INSERT {table}"] == 1, (table, seen)
    assert all(r.new_conversation and len(r.replies) == 2 for r in results)  # brand card; welcome with the privacy notice
    async with server.ctx.factory() as session:
        for event, result in zip(events, results, strict=True):
            identity = await session.scalar(select(ChannelIdentity).where(ChannelIdentity.external_id == event.external_id))
            assert identity is not None and identity.display_name == event.display_name
            customer = await session.get(Customer, identity.customer_id)
            assert customer is not None and customer.name == event.display_name and customer.locale == "en"
            rows = (await session.scalars(select(Message).where(Message.conversation_id == result.conversation_id)
                                          .order_by(Message.id))).all()
            assert [(m.direction, m.text) for m in rows][0] == ("in", event.text)
            assert [m.id for m in rows] == [result.message["id"], *(r["id"] for r in result.replies)]
            items = (await session.scalars(select(OutboxItem).where(OutboxItem.message_id.in_([m.id for m in rows[1:]]))
                                           .order_by(OutboxItem.id))).all()
            assert [(i.idempotency_key, i.target, i.payload["message_id"]) for i in items] == [
                (f"msg:{m.id}", event.external_id, m.id) for m in rows[1:]
            ]


async def test_a_new_chat_twice_in_one_batch_is_greeted_once_and_a_repeated_update_is_a_duplicate(
    server: Server, demo: OrgWithAdmin
) -> None:
    org = demo.org.id
    first, second, again = chat(org, "77", "one", "u1"), chat(org, "77", "two", "u2"), chat(org, "77", "one", "u1")
    results = await together(server, [first, second, again])
    assert results[0].new_conversation and len(results[0].replies) == 2
    assert not results[1].new_conversation and results[1].replies == []
    assert results[2].duplicate and results[2].message["id"] == results[0].message["id"]
    ids = [results[0].message["id"], *(r["id"] for r in results[0].replies), results[1].message["id"]]
    assert ids == sorted(ids)  # the second message comes after the first one's replies, as it did one by one
    async with server.ctx.factory() as session:
        conversation = await session.get(Conversation, results[0].conversation_id)
        assert conversation is not None and conversation.unread_count == 2 and conversation.last_message_preview == "two"
        assert len((await session.scalars(select(Customer).where(Customer.org_id == org))).all()) == 1


async def test_known_chats_cost_one_update_of_their_conversations(server: Server, demo: OrgWithAdmin) -> None:
    org = demo.org.id
    await together(server, [chat(org, f"{n}", "hi") for n in range(10)])
    with statements(server) as seen:
        results = await together(server, [chat(org, f"{n}", f"again {n}") for n in range(10)])
    assert seen["UPDATE conversations"] == 1 and seen["INSERT customers"] == 0 and seen["INSERT messages"] == 1, seen
    async with server.ctx.factory() as session:
        for n, result in enumerate(results):
            conversation = await session.get(Conversation, result.conversation_id)
            assert conversation is not None
            assert (conversation.unread_count, conversation.last_message_preview) == (2, f"again {n}")


async def test_the_facts_flows_ask_on_every_message_are_read_once_per_batch(server: Server, demo: OrgWithAdmin) -> None:
    """The policy gate's latest consent and the privacy flow's open rights requests: one query for the batch's
    customers, not one per event (bot/core/storage/batch.py)."""
    org = demo.org.id
    await together(server, [chat(org, f"{n}", "hi") for n in range(10)])
    agreed = await together(server, [InboundEvent(org_id=org, channel="telegram", external_id=f"{n}", kind="button",
                                                  payload="consent:yes:0") for n in range(10)])
    assert all(len(r.replies) == 1 for r in agreed)
    platform = await make_platform_admin(server.ctx.factory)
    async with transaction(server.ctx.factory) as session:  # a major version: the gate reads every customer's consent
        await publish(session=session, actor=platform, version="2099-02", summary="New terms.", major=True)
    reads: Counter[str] = Counter()

    def count(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        for table in ("consents", "rights_requests"):
            if sql.lstrip().upper().startswith("SELECT") and f"FROM {table}" in sql:
                reads[table] += 1

    engine = server.ctx.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        results = await together(server, [chat(org, f"{n}", f"again {n}") for n in range(10)])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert reads["consents"] <= 2 and reads["rights_requests"] <= 1, reads  # was 10 and 10 (and consent counts)
    # behaviour unchanged: each of them answered an older version, so each gets the policy-change notice
    assert all(len(r.replies) == 1 and "2099-02" in r.replies[0]["text"] for r in results), [r.replies for r in results]


_RIGHTS_READ = re.compile(r"^\s*SELECT\b.*\bFROM rights_requests\b", re.IGNORECASE | re.DOTALL)


async def test_a_batch_asks_once_whose_rights_requests_wait_on_them_not_once_per_message(
    server: Server, demo: OrgWithAdmin
) -> None:
    """The privacy flow resumes a request that waits on the customer when they write; the batch reads that for all
    its customers in one query (it was one per message, the live inbox's main cost at 200 msg/s)."""
    from bot.core.rights.models import RightsRequest
    from bot.core.rights.requests import change_status, mark_verified, open_request
    from bot.core.storage.db import transaction

    org = demo.org.id

    def web(who: int, text: str) -> InboundEvent:  # web chat: no consent step between the greeting and the flows
        return InboundEvent(org_id=org, channel="webchat", external_id=f"visitor-{who}", kind="text", text=text)

    first = await together(server, [web(n, "hi") for n in range(10)])
    async with transaction(server.ctx.factory) as session:
        request = await open_request(session=session, settings=server.ctx.settings, org_id=org,
                                     customer_id=first[3].customer_id, identity_id=None, kind="export")
        await mark_verified(session=session, settings=server.ctx.settings, request=request)
        await change_status(session=session, settings=server.ctx.settings, request=request, to="awaiting_customer",
                            actor_type="agent", actor_id=demo.admin.id, reason="which account?")
    reads: list[str] = []

    def count(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if _RIGHTS_READ.match(sql):
            reads.append(sql)

    engine = server.ctx.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        await together(server, [web(n, f"again {n}") for n in range(10)])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(reads) <= 2, reads  # the batch's one look, and the one customer it found loads their request
    async with server.ctx.factory() as session:
        stored = await session.get(RightsRequest, request.id)
        assert stored is not None and stored.status == "in_progress"  # the customer answered: the clock runs again


async def test_a_known_chat_s_message_is_one_read_and_its_writes(server: Server, demo: OrgWithAdmin) -> None:
    """The flows' per-message facts (latest consent and answers, open rights requests) come with the preload."""
    await together(server, [chat(demo.org.id, "7001", "hello", "p1")])
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        task = asyncio.current_task()
        if task is not None and task.get_name() == "ingest-writer":  # not the dispatcher sending the greeting
            seen.append(" ".join(sql.split()[:3]))

    engine = server.ctx.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        [result] = await together(server, [chat(demo.org.id, "7001", "my order is late", "p2")])
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert not result.replies
    if server.ctx.engine.dialect.name == "postgresql":  # the conversation's UPDATE is a CTE of the messages INSERT
        assert [s.split()[0] for s in seen] == ["SELECT", "WITH"], seen
    else:
        assert [s.split()[0] for s in seen] == ["SELECT", "INSERT", "UPDATE"], seen


async def test_a_retried_platform_message_is_a_duplicate_in_its_own_chat_only(server: Server, demo: OrgWithAdmin) -> None:
    """The preload matches platform message ids per chat (on PostgreSQL as (chat, id) pairs): another chat's
    message with the same platform id is new, a retry in a later batch is the stored message."""
    org = demo.org.id
    [first] = await together(server, [chat(org, "a", "one", "p1")])
    other, retried, second = await together(server, [chat(org, "b", "hello", "p1"), chat(org, "a", "one", "p1"),
                                                     chat(org, "a", "two", "p2")])
    assert not other.duplicate and other.conversation_id != first.conversation_id
    assert retried.duplicate and retried.message["id"] == first.message["id"]
    assert not second.duplicate and second.message["id"] > other.message["id"] > first.message["id"]
    async with server.ctx.factory() as session:
        rows = (await session.scalars(select(Message).where(Message.platform_message_id.in_(["p1", "p2"])).order_by(Message.id))).all()
        assert [(m.conversation_id, m.text) for m in rows] == [
            (first.conversation_id, "one"), (other.conversation_id, "hello"), (first.conversation_id, "two")
        ]


async def test_a_batch_s_statements_on_each_backend_whatever_its_size(server: Server, demo: OrgWithAdmin) -> None:
    """PostgreSQL: lists go as arrays, so the preload and the messages INSERT (with the conversations' UPDATE as a
    CTE) are each one prepared statement (asyncpg prepares it once per connection, PostgreSQL plans it once) and one
    execution, not an executemany: a known chat's batch is two round trips besides BEGIN and COMMIT. With IN lists
    and VALUES rows every batch size was a statement of its own, and the UPDATE a third. SQLite (no round trips, no
    prepared statements to keep) keeps IN lists, a multi-row VALUES list for the INSERT (one execution, RETURNING
    the ids) and executemany for the UPDATE (storage/sqlite_rows.py)."""
    org = demo.org.id
    await together(server, [chat(org, f"{n}", "hi", f"first {n}") for n in range(9)])
    seen: list[tuple[str, bool]] = []

    def record(_conn: Any, _cursor: Any, sql: str, _params: Any, _context: Any, executemany: bool) -> None:
        task = asyncio.current_task()
        if task is not None and task.get_name() == "ingest-writer":
            seen.append((sql, executemany))

    engine = server.ctx.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        for size in (2, 5, 9):
            results = await together(server, [chat(org, f"{n}", f"again {n}", f"size {size} #{n}") for n in range(size)])
            assert not any(r.duplicate for r in results)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    by_verb: dict[str, set[str]] = {}
    many: set[str] = set()
    for sql, executemany in seen:
        verb = " ".join(sql.split()[:3])
        by_verb.setdefault(verb, set()).add(sql)
        if executemany:
            many.add(verb)
    texts = {verb: len(found) for verb, found in by_verb.items()}
    if server.ctx.engine.dialect.name == "postgresql":
        assert texts == {"SELECT channel_identities.id, channel_identities.org_id,": 1, "WITH touched_0 AS": 1}, texts
        assert not many
    else:  # a read, the INSERT, the UPDATE: the IN list and the VALUES rows follow the batch's size
        assert set(texts) == {"SELECT channel_identities.id, channel_identities.org_id,", "INSERT INTO messages",
                              "UPDATE conversations SET"}, texts
        assert many == {"UPDATE conversations SET"}, many
        inserts = by_verb["INSERT INTO messages"]
        assert {sql.count("), (") + 1 for sql in inserts} == {2, 5, 9}, inserts  # one VALUES row a message


async def test_on_postgresql_the_preload_probes_a_chat_s_messages_by_both_columns_whatever_the_statistics(
    server: Server, demo: OrgWithAdmin
) -> None:
    """asyncpg prepares the preload once per connection and PostgreSQL may keep a generic plan made while the tables
    were small (a new database: nothing analyzed yet). Joined, the messages were then probed on one column of their
    unique (identity_id, platform_message_id) index and filtered on the other, so each probe read all of a chat's
    messages (in bench_postgres's first round the preload went from 1.6 to 11 ms a batch). As a correlated subquery
    both columns are its parameters: the probe is one index entry, whatever the planner knows."""
    if server.ctx.engine.dialect.name != "postgresql":
        pytest.skip("prepared statements' generic plans are PostgreSQL's (SQLite plans each statement on its own)")
    org = demo.org.id
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        task = asyncio.current_task()
        if task is not None and task.get_name() == "ingest-writer" and sql.lstrip().startswith("SELECT channel_identities"):
            sent.append((sql, params))

    engine = server.ctx.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        results = await together(server, [chat(org, "a", "one", "p1"), chat(org, "b", "two", "p2")])
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert not any(r.duplicate for r in results)
    [(sql, params)] = [(s, p) for s, p in sent if "unnest" in s]
    async with server.ctx.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        rollback = raw.transaction()  # the catalogue as a new database has it, for this transaction only
        await rollback.start()
        try:
            await raw.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            await raw.execute("UPDATE pg_class SET reltuples = -1, relpages = 0 WHERE relnamespace = current_schema()::regnamespace")
            await raw.execute("DELETE FROM pg_statistic WHERE starelid IN "
                              "(SELECT oid FROM pg_class WHERE relnamespace = current_schema()::regnamespace)")
            explained = await raw.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *params)  # decoded by SQLAlchemy's codec
            plan = (json.loads(explained) if isinstance(explained, str) else explained)[0]["Plan"]
        finally:
            await rollback.rollback()
    probes: list[dict[str, Any]] = []

    def walk(node: dict[str, Any]) -> None:
        if node.get("Relation Name") == "messages":
            probes.append(node)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan)
    assert probes, plan
    for node in probes:
        cond = node.get("Index Cond", "")
        assert "identity_id" in cond and "platform_message_id" in cond, node


async def test_batches_in_flight_keep_each_chat_in_order_and_lose_no_update(
    server: Server, demo: OrgWithAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the next batch is read and handled while the one before it sends its COMMIT (here every
    message is answered, so every batch has one); a chat of the batch in flight waits for it. Waves of messages,
    alternately from two halves of the chats, in batches of at most 12: every chat's messages keep their order (ids
    ascend as sent), every conversation counts all of them (no touch lost), and on PostgreSQL batches began while
    the one before them was still in flight (on SQLite never)."""
    monkeypatch.setattr(ingest, "MAX_BATCH", 12)
    answer_every_message(server, monkeypatch)
    overlapped: list[bool] = []

    def next_batch(waiting: list[Item], previous: InFlight | None, limit: int) -> tuple[list[Item], list[Item]]:
        overlapped.append(previous is not None and previous.task is not None and not previous.task.done())
        return take(waiting, previous, limit)

    take = ingest_batch.next_batch
    monkeypatch.setattr(ingest, "next_batch", next_batch)
    org = demo.org.id
    chats = [f"w{n}" for n in range(12)]
    await together(server, [chat(org, who, "hi") for who in chats])
    sent: list[asyncio.Task[IngestResult]] = []
    for wave in range(16):  # odd waves from half the chats, even ones from the other half
        sent += [asyncio.create_task(server.ctx.ingestor.submit(chat(org, who, f"{who} {wave}.{k}")))
                 for who in chats[wave % 2::2] for k in range(2)]
    results = await asyncio.gather(*sent)
    await assert_each_chat_in_order(server, chats, results, unread=1 + 16)
    assert any(overlapped) == (server.ctx.engine.dialect.name == "postgresql"), overlapped


async def test_a_batch_sharing_a_customer_with_the_batch_in_flight_is_read_after_it(
    server: Server, demo: OrgWithAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two chats of one customer (merged, e.g. Telegram and web chat) in consecutive batches: on PostgreSQL the
    second batch, begun while the first commits, finds the customer in flight and is read again after that
    commit, so what the first wrote for the customer (consent, last seen) is what the second reads. (Every message
    is answered: a batch that commits with its one write has no COMMIT to overlap, and the next waits for it.)"""
    monkeypatch.setattr(ingest, "MAX_BATCH", 1)
    answer_every_message(server, monkeypatch)
    org = demo.org.id
    first, second = await together(server, [chat(org, "m1", "hi"), chat(org, "m2", "hi")])
    async with transaction(server.ctx.factory) as session:
        other = await session.get(ChannelIdentity, second.identity_id)
        assert other is not None
        other.customer_id = first.customer_id
    loads: list[int] = []
    load = ingest_batch.Preloaded.load

    async def counted(session: Any, events: list[InboundEvent]) -> Any:
        loads.append(len(events))
        return await load(session, events)

    monkeypatch.setattr(ingest_batch.Preloaded, "load", counted)
    one, two = await together(server, [chat(org, "m1", "again"), chat(org, "m2", "again")])
    assert one.customer_id == two.customer_id == first.customer_id and not one.duplicate and not two.duplicate
    assert two.message["id"] > one.message["id"]
    assert len(loads) == (3 if server.ctx.engine.dialect.name == "postgresql" else 2), loads


async def test_a_batch_that_moved_rows_between_customers_is_committed_before_the_next_is_read(
    server: Server, demo: OrgWithAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A merge (rows moved between customers, storage.batch.forget) may change another chat's customer: the next
    batch is not begun while that batch is in flight, even on PostgreSQL (every message is answered, so the others
    have a COMMIT to overlap)."""
    monkeypatch.setattr(ingest, "MAX_BATCH", 1)
    org = demo.org.id
    await together(server, [chat(org, "x1", "hi"), chat(org, "x2", "hi")])
    flows = server.ctx.ingestor.flows
    run = flows.run

    async def merging(turn: Any) -> Any:
        if turn.event.text == "merge":
            forget(turn.session)
        return [*await run(turn), Reply(text="noted")]

    monkeypatch.setattr(flows, "run", merging)
    overlapped: list[tuple[str, bool]] = []
    take = ingest_batch.next_batch

    def next_batch(waiting: list[Item], previous: InFlight | None, limit: int) -> tuple[list[Item], list[Item]]:
        batch, rest = take(waiting, previous, limit)
        in_flight = previous is not None and previous.task is not None and not previous.task.done()
        overlapped.extend((item[0].text, in_flight) for item in batch)
        return batch, rest

    monkeypatch.setattr(ingest, "next_batch", next_batch)
    await together(server, [chat(org, "x1", "merge"), chat(org, "x2", "after"), chat(org, "x1", "plain"), chat(org, "x2", "next")])
    assert dict(overlapped)["after"] is False, overlapped
    if server.ctx.engine.dialect.name == "postgresql":  # batches after an ordinary one still overlap
        assert dict(overlapped)["next"] is True, overlapped


async def test_the_dispatcher_is_woken_for_the_channels_a_batch_queued_for_and_not_for_a_batch_that_queued_nothing(
    server: Server, demo: OrgWithAdmin,
) -> None:
    woken: list[Any] = []
    server.ctx.ingestor.on_replies.append(woken.append)

    async def woken_for() -> Any:
        async with asyncio.timeout(10):
            while not woken:  # noqa: ASYNC110 - the callbacks run after the acknowledgement, in this event loop
                await asyncio.sleep(0.01)
        return woken.pop(0)

    await together(server, [chat(demo.org.id, "wake-1", "hello")])  # a new chat: greeted, its replies queued
    assert await woken_for() == {"telegram"}
    await together(server, [chat(demo.org.id, "wake-1", "and my order?")])  # a known chat's message: nothing queued
    await together(server, [chat(demo.org.id, "wake-2", "hi")])
    assert await woken_for() == {"telegram"} and woken == [], "a batch that queued nothing woke the dispatcher"


async def test_a_batch_whose_only_write_is_one_statement_commits_with_it(
    server: Server, demo: OrgWithAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: a known chat's batch that queues no reply is two round trips, the preload and the messages INSERT
    (the touches its CTEs), each its own implicit transaction: no BEGIN before them, no COMMIT after (the INSERT is
    committed before its result comes back). A batch that writes more (a first contact: the new chat's rows, the
    greetings and their outbox rows) is one transaction as before. Either way the message is stored when it is
    acknowledged. SQLite: unchanged, one transaction a batch."""
    org = demo.org.id
    commits: list[str] = []

    def record(_conn: Any) -> None:
        task = asyncio.current_task()
        if task is not None and task.get_name() == "ingest-writer":
            commits.append("commit")

    event.listen(server.ctx.engine.sync_engine, "commit", record)
    try:
        with begins_and_commits(monkeypatch) as sent:
            [first] = await together(server, [chat(org, "9001", "hello", "p1"), ])
            greeted = list(sent)
            sent.clear()
            results = await together(server, [chat(org, "9001", "my order", "p2"), chat(org, "9002", "hi", "p3")])
            first_contact_too = list(sent)
            sent.clear()
            [known] = await together(server, [chat(org, "9001", "is late", "p4")])
            alone = list(sent)
    finally:
        event.remove(server.ctx.engine.sync_engine, "commit", record)
    assert first.replies and not known.replies and not known.duplicate
    if server.ctx.engine.dialect.name == "postgresql":
        assert greeted == ["BEGIN", "COMMIT"], greeted
        assert first_contact_too == ["BEGIN", "COMMIT"], first_contact_too  # the new chat 9002 shares the batch
        assert alone == [], alone
    else:
        assert greeted == first_contact_too == alone == []
        assert commits == ["commit"] * 3, commits
    async with server.ctx.factory() as session:  # another connection: stored and committed, touches and all
        rows = (await session.scalars(select(Message).where(Message.conversation_id == first.conversation_id,
                                                             Message.direction == "in").order_by(Message.id))).all()
        assert [(m.text, m.platform_message_id) for m in rows] == [("hello", "p1"), ("my order", "p2"), ("is late", "p4")]
        assert rows[-1].id == known.message["id"] and results[0].message["id"] == rows[1].id
        conversation = await session.get(Conversation, first.conversation_id)
        assert conversation is not None and conversation.unread_count == 3 and conversation.last_message_preview == "is late"


async def test_a_batch_whose_write_fails_is_written_again_event_by_event(
    server: Server, demo: OrgWithAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch's one write fails (here a row naming a conversation that does not exist): nothing of it is stored
    (on PostgreSQL it was its own transaction), and each event is written again alone, so the bad one fails and
    the others are stored once, their conversations touched once."""
    org = demo.org.id
    await together(server, [chat(org, "f1", "hi"), chat(org, "f2", "hi")])
    make_row = ingest_writes.message_row

    def breaking(**values: Any) -> dict[str, Any]:
        row = make_row(**values)
        if values.get("text") == "bad":
            row["conversation_id"] = 10**9
        return row

    monkeypatch.setattr(ingest, "message_row", breaking)
    events = [chat(org, "f1", "fine 1"), chat(org, "f2", "bad"), chat(org, "f1", "fine 2")]
    outcome = await asyncio.gather(*(server.ctx.ingestor.submit(e) for e in events), return_exceptions=True)
    assert isinstance(outcome[1], Exception) and not isinstance(outcome[0], Exception) and not isinstance(outcome[2], Exception)
    async with server.ctx.factory() as session:
        texts = Counter((await session.scalars(select(Message.text).where(Message.text.in_(["fine 1", "fine 2", "bad"])))).all())
        assert texts == {"fine 1": 1, "fine 2": 1}, texts
        conversation = await session.get(Conversation, outcome[0].conversation_id)  # type: ignore[union-attr]
        assert conversation is not None and conversation.unread_count == 1 + 2
        count = await session.scalar(select(func.count()).select_from(Message).where(Message.conversation_id == conversation.id))
        assert count == 1 + 2 + 2  # hello, the greetings (brand card; welcome and notice), the two fine ones


async def test_a_batch_whose_write_committed_itself_is_done_before_the_next_is_begun(
    server: Server, demo: OrgWithAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The overlap hides a COMMIT: a batch whose one write committed itself has none left, so the next batch is begun
    once it is done (acknowledged), as on SQLite. Begun while it acknowledged, the next batch took the few events
    that had come in meanwhile, and 50 web chat visitors in a closed loop were written as batches of 1 and 49 in
    turn, each paying a batch's fixed costs."""
    monkeypatch.setattr(ingest, "MAX_BATCH", 12)
    overlapped: list[bool] = []
    take = ingest_batch.next_batch

    def next_batch(waiting: list[Item], previous: InFlight | None, limit: int) -> tuple[list[Item], list[Item]]:
        batch, rest = take(waiting, previous, limit)
        if batch:
            overlapped.append(previous is not None and previous.task is not None and not previous.task.done())
        return batch, rest

    org = demo.org.id
    chats = [f"c{n}" for n in range(12)]
    await together(server, [chat(org, who, "hi") for who in chats])
    monkeypatch.setattr(ingest, "next_batch", next_batch)
    sent: list[asyncio.Task[IngestResult]] = []
    for wave in range(8):
        for who in chats[wave % 2::2]:
            sent.append(asyncio.create_task(server.ctx.ingestor.submit(chat(org, who, f"{who} {wave}"))))
        await asyncio.sleep(0)  # each wave queued on its own
    results = await asyncio.gather(*sent)
    assert not any(r.replies or r.duplicate for r in results)
    assert overlapped and not any(overlapped), overlapped
    await assert_each_chat_in_order(server, chats, results, unread=1 + 4)


async def test_a_failure_after_the_batch_is_stored_answers_every_caller_and_stores_nothing_twice(
    server: Server, demo: OrgWithAdmin, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On PostgreSQL a known chat's batch commits with its one write; a failure after that (here: injected into the
    step that follows it) used to leave the callers waiting forever. Each is answered now that its message is
    stored (once). On SQLite the same failure comes before the commit: rolled back, and the caller told so."""
    await together(server, [chat(demo.org.id, "after-1", "hello")])  # the chat exists: the next message is one write
    real, failures = outbox.queued_channels, [1]

    def failing_once(session: Any) -> Any:
        if failures:
            failures.pop()
            raise RuntimeError("injected after the write")
        return real(session)

    monkeypatch.setattr(ingest, "queued_channels", failing_once)
    with pytest.raises(DomainError) as answer:
        async with asyncio.timeout(10):
            await server.ctx.ingestor.submit(chat(demo.org.id, "after-1", "stored once?", platform_id="p-after"))
    assert not failures
    async with server.ctx.factory() as session:
        stored = (await session.scalars(select(Message.id).where(Message.text == "stored once?"))).all()
    if server.ctx.settings.database_url.startswith("postgresql"):  # committed with its write: stored, and said so
        assert isinstance(answer.value, ServiceUnavailable) and answer.value.message == ingest.UNCONFIRMED
        assert len(stored) == 1
    else:  # rolled back: not stored, and said so
        assert answer.value.message == "the message could not be stored" and stored == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the database thread is SQLite's driver's
async def test_on_sqlite_a_batch_makes_one_trip_to_the_database_thread_its_commit(
    server: Server, demo: OrgWithAdmin, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its statements run on the event loop's thread (storage/sqlite_driver.py, `inline`): a trip there and back for
    each cost more CPU than the statements themselves. Its commit, which waits for the disk (`synchronous` FULL),
    is the one trip: the event loop goes on meanwhile."""
    await together(server, [chat(demo.org.id, "7101", "hello", "q1")])
    # Connections open in the pool: the writer takes an idle one even while the dispatcher holds some (sending the
    # first chat's greeting). Opening a new one makes trips of its own (its connect, its PRAGMAs), not the batch's.
    engine, pool = server.ctx.engine, server.ctx.engine.sync_engine.pool
    assert isinstance(pool, QueuePool)
    held = [await engine.connect() for _ in range(pool.size())]
    for conn in held:
        await conn.exec_driver_sql("SELECT 1")
    for conn in held:
        await conn.close()
    trips: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        task = asyncio.current_task()
        if task is not None and task.get_name() == "ingest-writer":
            trips.append(getattr(fn, "__name__", "?"))
        return await original(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    results = await together(server, [chat(demo.org.id, "7101", "my order", "q2"), chat(demo.org.id, "7102", "hi", "q3")])
    assert trips == ["commit"]
    assert [len(r.replies) for r in results] == [0, 2]  # a known chat's message, a new one greeted: all written
    async with server.ctx.factory() as session:
        assert await session.scalar(select(func.count()).select_from(Message).where(Message.text == "my order")) == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # PostgreSQL's writer reads the next batch while one commits
async def test_on_sqlite_events_submitted_one_turn_of_the_event_loop_apart_share_a_batch(server: Server, demo: OrgWithAdmin) -> None:
    """The writer takes its batch one turn of the event loop after the first event arrives: a handler that resumed
    in that turn (behind the writer's wake-up) is in the same batch, not in a batch of its own."""
    org = demo.org.id

    async def later(event: InboundEvent) -> IngestResult:
        await asyncio.sleep(0)  # one turn behind the first submit
        return await server.ctx.ingestor.submit(event)

    with statements(server) as seen:
        results = await asyncio.gather(server.ctx.ingestor.submit(chat(org, "turn-1", "first")), later(chat(org, "turn-2", "second")))
    assert all(r.new_conversation for r in results)
    assert seen["INSERT customers"] == 1 and seen["INSERT messages"] == 1, seen
