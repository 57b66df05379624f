"""Outbox claims: index-driven whatever the backlog (due items read in index order with a LIMIT, items waiting
behind their chat's head deferred, brought forward when it is delivered); on PostgreSQL they pass over rows another
process is claiming (FOR UPDATE SKIP LOCKED) instead of waiting for its transaction, and what each claims is its own,
once; the database settings reach every connection."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Table, event, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import ConfigError, load_settings
from bot.core.common import clock
from bot.core.delivery.claims import _NEXT, claim_due, defer_statement, due_query, lease_statement
from bot.core.delivery.models import OutboxItem
from bot.core.delivery.outbox import enqueue
from bot.core.delivery.recorder import Outcome, apply
from bot.core.storage.db import create_engine, session_factory, transaction
from tests.conftest import make_settings, start_server

OUTBOX = cast(Table, OutboxItem.__table__)


async def test_a_claim_skips_the_rows_another_claim_holds_instead_of_waiting(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's; SQLite writers take turns (storage/db.py write_turn)")
    engine = create_engine(db_url)
    factory = session_factory(engine)
    try:
        async with transaction(factory) as session:
            for target in ("100", "200"):
                await enqueue(session=session, channel="telegram", target=target, payload={"text": "hi"}, idempotency_key=f"k{target}")
        async with factory() as first, first.begin():
            held = await claim_due(session=first, lease_seconds=30, limit=1)
            assert [c.target for c in held] == ["100"]
            async with transaction(factory) as second:  # while the first claim is not yet committed
                other = await asyncio.wait_for(claim_due(session=second, lease_seconds=30, limit=10), timeout=5)
            assert [c.target for c in other] == ["200"]
        async with transaction(factory) as third:
            assert await claim_due(session=third, lease_seconds=30, limit=10) == []  # both leased, neither claimed twice
    finally:
        await engine.dispose()


async def test_the_database_settings_reach_postgresql_and_bad_ones_name_their_key(db_url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^database\.synchronous_commit:"):
        load_settings(None, {"INCS_DATA_DIR": str(tmp_path), "INCS_CONFIG": str(tmp_path / "none.yaml"),
                             "INCS_DATABASE__SYNCHRONOUS_COMMIT": "sometimes"})
    if not db_url.startswith("postgresql"):
        return
    server = await start_server(make_settings(db_url, tmp_path, database={"url": db_url, "synchronous_commit": "off"}))
    try:
        async with server.ctx.engine.connect() as conn:
            assert await conn.scalar(text("SHOW synchronous_commit")) == "off"
            cache = (await conn.get_raw_connection()).dbapi_connection._prepared_statement_cache  # type: ignore[union-attr]
            assert cache.capacity == 500
    finally:
        await server.stop()


# ---- Claims read what they claim, not the backlog (issue 15: the claim grouped every undelivered row). ----


async def _plan(session: AsyncSession, query: Any) -> str:
    compiled = query.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True})
    if session.get_bind().dialect.name == "sqlite":
        rows = await session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
        return "\n".join(str(row[-1]) for row in rows)
    await session.execute(text("SET LOCAL enable_seqscan = off"))  # the test's table is tiny; ask which index it would use
    return "\n".join(str(row[0]) for row in await session.execute(text(f"EXPLAIN {compiled}")))


async def test_the_claim_reads_due_items_from_an_index_in_order_with_a_limit(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        async with transaction(session_factory(engine)) as session:
            plan = await _plan(session, due_query("telegram", clock.now(), 50, exclude=[1, 2]))
        assert "ix_outbox_due" in plan, plan
        assert "TEMP B-TREE" not in plan and "Sort" not in plan, f"the claim sorts its candidates:\n{plan}"
        assert "GROUP BY" not in plan and "Aggregate" not in plan, plan
        assert "SCAN outbox" not in plan and "Seq Scan" not in plan, f"the head check reads the table:\n{plan}"
    finally:
        await engine.dispose()


async def test_on_postgresql_a_candidate_s_chat_is_checked_by_its_target_whatever_the_statistics(db_url: str) -> None:
    """Each candidate's check for an older undelivered item of its chat must seek its target in ix_outbox_queue. When
    PostgreSQL's statistics know of no pending rows (a new database, or an outbox of sent rows that a burst has just
    filled: 10,000 new rows do not make autovacuum analyze a table of a million), every index estimates one row and
    the planner took ix_outbox_due, reading all the channel's pending rows for each candidate: 47 ms a claim with
    12,000 greetings queued (bench_telegram on PostgreSQL). Shown with the table's statistics as a new one has them."""
    engine = create_engine(db_url)
    if engine.dialect.name != "postgresql":
        await engine.dispose()
        pytest.skip("SQLite's planner has no statistics to go wrong with (its plan is checked above)")
    try:
        stamp = clock.now()
        async with transaction(session_factory(engine)) as session:
            await session.execute(OUTBOX.insert(), _pending(stamp, 2000, chats=200, key="s"))
            await session.execute(text("UPDATE pg_class SET reltuples = -1, relpages = 0 WHERE oid = 'outbox'::regclass"))
            await session.execute(text("DELETE FROM pg_statistic WHERE starelid = 'outbox'::regclass"))
            compiled = due_query("telegram", stamp, 50, exclude=[1, 2]).compile(
                dialect=engine.dialect, compile_kwargs={"literal_binds": True})
            plan = "\n".join(str(row[0]) for row in await session.execute(text(f"EXPLAIN {compiled}")))
            await session.rollback()  # the statistics as they were
        checks = plan[plan.index("SubPlan"):] if "SubPlan" in plan else plan[plan.index("Index"):]
        assert "ix_outbox_queue" in checks and "target" in checks.split("Filter")[0], plan
    finally:
        await engine.dispose()


def _pending(stamp: datetime, count: int, *, chats: int, key: str) -> list[dict[str, Any]]:
    """`count` pending Telegram items spread over `chats` chats, due at `stamp`."""
    return [
        {"channel": "telegram", "target": str(n % chats), "payload": {"text": "hi"}, "idempotency_key": f"{key}{n}",
         "state": "pending", "attempts": 0, "next_attempt_at": stamp, "created_at": stamp, "sends": 0}
        for n in range(count)
    ]


async def _backlog(engine: Any) -> datetime:
    """A backlog of 100 chats, five pending items each (PostgreSQL's statistics brought up to date); returns their
    due time."""
    stamp = clock.now()
    async with transaction(session_factory(engine)) as session:
        await session.execute(OUTBOX.insert(), _pending(stamp, 500, chats=100, key="b"))
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE outbox"))
    return stamp


async def test_bringing_a_chats_next_item_forward_seeks_it_in_an_index_whatever_the_backlog(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await _backlog(engine)
        async with transaction(session_factory(engine)) as session:
            # the UPDATE itself finds its row by primary key; the item to bring forward is this subquery's
            plan = await _plan(session, select(_NEXT).params(b_channel="telegram", b_target="1"))
        assert "ix_outbox_queue" in plan, plan
        seeks = [line for line in plan.splitlines() if "SEARCH" in line or "Index Cond" in line]
        assert any("target" in line for line in seeks), f"promote_next reads every pending row of the channel:\n{plan}"
        assert "SCAN outbox" not in plan and "Seq Scan" not in plan, f"promote_next reads the backlog:\n{plan}"
        assert "GROUP BY" not in plan and "Aggregate" not in plan.replace("InitPlan", ""), plan
    finally:
        await engine.dispose()


async def test_leasing_the_heads_and_deferring_the_rest_find_their_rows_by_primary_key_whatever_the_backlog(
    db_url: str,
) -> None:
    """Both statements name their rows by id and test `state` too. SQLite planned them by the index on `state`
    (no statistics), reading every pending row: 12 ms a claim, 7 ms a deferral with 45,000 greetings queued."""
    engine = create_engine(db_url)
    try:
        stamp = await _backlog(engine)
        async with transaction(session_factory(engine)) as session:
            plans = [await _plan(session, lease_statement([3, 5, 8], stamp, 30)),
                     await _plan(session, defer_statement([3, 5, 8], stamp))]
        for plan in plans:
            outer = plan.splitlines()[0] if db_url.startswith("sqlite") else plan
            assert "PRIMARY KEY" in outer or "pk_outbox" in outer, f"found by another index than the ids':\n{plan}"
            assert "ix_outbox_due" not in plan and "SCAN outbox" not in plan and "Seq Scan" not in plan, plan
    finally:
        await engine.dispose()


async def _queue(session: AsyncSession, target: str, count: int, prefix: str) -> None:
    for n in range(count):
        await enqueue(session=session, channel="telegram", target=target, payload={"text": f"{prefix}{n}"},
                      idempotency_key=f"{prefix}-{target}-{n}")


async def test_a_long_queue_to_one_chat_is_read_once_and_its_next_item_comes_forward_when_the_first_is_sent(
    db_url: str,
) -> None:
    engine = create_engine(db_url)
    factory = session_factory(engine)
    try:
        async with transaction(factory) as session:
            await _queue(session, "1", 300, "a")  # one chat with a long queue, enqueued first
            await _queue(session, "2", 1, "b")
            await _queue(session, "3", 1, "c")
        async with transaction(factory) as session:
            first = await claim_due(session=session, lease_seconds=30, limit=0, per_channel={"telegram": 3})
        assert [(c.target, c.payload["text"]) for c in first] == [("1", "a0"), ("2", "b0"), ("3", "c0")]
        assert all(c.fresh and c.attempts == 1 for c in first)
        async with factory() as session:  # the 299 behind chat 1's head were deferred by a lease: not read again
            waiting = (await session.scalars(select(OutboxItem.next_attempt_at).where(
                OutboxItem.target == "1", OutboxItem.state == "pending"))).all()
        assert len(waiting) == 299 and min(waiting) > clock.now() + timedelta(seconds=25)
        async with transaction(factory) as session:
            assert await claim_due(session=session, lease_seconds=30, limit=0, per_channel={"telegram": 3}) == []

        async with transaction(factory) as session:  # chat 1's head is delivered: its next item is due at once
            await apply(session, [Outcome(first[0], "sent", platform_id="77")])
        async with transaction(factory) as session:
            second = await claim_due(session=session, lease_seconds=30, limit=0, per_channel={"telegram": 3})
        assert [(c.target, c.payload["text"]) for c in second] == [("1", "a1")]
    finally:
        await engine.dispose()


async def test_a_lost_lease_is_claimed_again_as_an_attempt_and_its_chat_keeps_its_order(db_url: str) -> None:
    engine = create_engine(db_url)
    factory = session_factory(engine)
    try:
        async with transaction(factory) as session:
            await _queue(session, "1", 2, "a")
        async with transaction(factory) as session:
            [head] = await claim_due(session=session, lease_seconds=30, limit=5)
        later = clock.now() + timedelta(seconds=31)
        clock.set_clock(lambda: later)
        async with transaction(factory) as session:
            again = await claim_due(session=session, lease_seconds=30, limit=5)
        assert [(c.id, c.attempts, c.fresh) for c in again] == [(head.id, 2, False)]
    finally:
        clock.set_clock(None)
        await engine.dispose()


async def test_a_batch_of_outcomes_is_written_with_a_few_statements_whatever_its_size(db_url: str) -> None:
    engine = create_engine(db_url)
    factory = session_factory(engine)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    try:
        async with transaction(factory) as session:
            for target in range(40):
                await _queue(session, str(target), 2, "m")
        async with transaction(factory) as session:
            claimed = await claim_due(session=session, lease_seconds=30, limit=40)
        assert len(claimed) == 40
        outcomes = [Outcome(c, "sent", platform_id=f"p{c.id}") for c in claimed[:30]]
        outcomes += [Outcome(c, "retry", delay=1.0, error="paced", counted=False) for c in claimed[30:35]]
        outcomes += [Outcome(c, "failed", error="400") for c in claimed[35:]]
        event.listen(engine.sync_engine, "before_cursor_execute", count)
        async with transaction(factory) as session:
            sends = await apply(session, outcomes)
        event.remove(engine.sync_engine, "before_cursor_execute", count)
        writes = [s for s in statements if s.lstrip().upper().startswith(("UPDATE", "SELECT"))]
        assert len(writes) <= 6, f"{len(writes)} statements for 40 outcomes"
        assert sends == [1] * 30 + [0] * 10
        async with factory() as session:
            states = dict((await session.execute(select(OutboxItem.id, OutboxItem.state))).all())
            due = (await session.scalars(select(OutboxItem.target).where(
                OutboxItem.state == "pending", OutboxItem.next_attempt_at <= clock.now()))).all()
        assert [states[c.id] for c in claimed] == ["sent"] * 30 + ["pending"] * 5 + ["failed"] * 5
        # the next item of each chat whose head finished is due; the paced chats' next ones wait behind their heads
        assert sorted(due, key=int) == [str(t) for t in range(40) if t not in {int(c.target) for c in claimed[30:35]}]
    finally:
        await engine.dispose()
