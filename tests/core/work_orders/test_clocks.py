"""Clock rules with the clock controlled: pending pauses a work order's clock by exactly the paused business time,
a priority change counts the time used, reopening continues; conversation response clocks start, pause, stop,
announce their crossings once, and a resolved conversation asks for CSAT."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.core.business_time import calendar_from_config
from bot.core.common import clock
from bot.core.common.errors import Conflict, Forbidden
from bot.core.conversations.models import Conversation, Message
from bot.core.conversations.replies import reply_as_agent
from bot.core.conversations.threads import set_status, touch_inbound
from bot.core.delivery.models import OutboxItem
from bot.core.notifications.models import NotificationEvent
from bot.core.storage.db import transaction
from bot.core.work_orders.changes import change_priority, change_status
from bot.core.work_orders.clocks import sync_conversation_clock
from bot.core.work_orders.csat import ask_conversation_csat, record_csat
from bot.core.work_orders.models import ConversationClock, WorkOrder
from bot.core.work_orders.services import open_work_order
from bot.core.work_orders.sweeps import sweep_sla
from tests.conftest import make_settings, start_server
from tests.utils.factories import make_org
from tests.utils.work_orders import at, make_customer, sla_settings

MONDAY_9 = datetime(2026, 3, 2, 1, 0)  # 09:00 in Shanghai


async def test_pending_pauses_by_exactly_the_paused_business_time(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(db_url, tmp_path / "data", business_time={"timezone": "Asia/Shanghai"})  # Mon-Fri 09-18
    cal = calendar_from_config(settings.business_time)
    at(MONDAY_9)
    server = await start_server(settings)
    try:
        demo = await make_org(server.ctx.factory)
        customer, conversation = await make_customer(server.ctx.factory, demo.org.id)
        async with transaction(server.ctx.factory) as session:
            order = await open_work_order(session=session, settings=settings, customer=customer, category="billing",
                                          description="Invoice wrong", conversation=conversation)  # normal: 1440 min
            order_id = order.id
        first_due = cal.add_business(MONDAY_9, 1440)
        assert order.due_at == first_due == datetime(2026, 3, 4, 7, 0)  # 24 business hours of 9 a day: Wednesday 15:00 local
        pause_at, resume_at = MONDAY_9 + timedelta(hours=2), datetime(2026, 3, 3, 4, 0)  # Mon 11:00 -> Tue 12:00 local
        at(pause_at)
        async with transaction(server.ctx.factory) as session:
            order = await session.get_one(WorkOrder, order_id)
            await change_status(session=session, settings=settings, order=order, status="pending", agent=demo.admin)
            assert order.due_at is None and order.remaining_seconds == 22 * 3600
        at(resume_at)
        async with transaction(server.ctx.factory) as session:
            order = await session.get_one(WorkOrder, order_id)
            await change_status(session=session, settings=settings, order=order, status="open", agent=demo.admin)
            assert order.due_at is not None
            assert cal.business_between(first_due, order.due_at) == cal.business_between(pause_at, resume_at) == timedelta(hours=10)
            # urgent (240 min) after 2 business hours used: 2 hours left.
            await change_priority(session=session, settings=settings, order=order, priority="urgent", agent=demo.admin)
            assert order.due_at == resume_at + timedelta(hours=2)
            with pytest.raises(Conflict, match="it can go to: pending, resolved"):
                await change_status(session=session, settings=settings, order=order, status="closed", agent=demo.admin)
            await change_status(session=session, settings=settings, order=order, status="resolved", agent=demo.admin)
            assert order.sla_met is True and order.resolved_week is not None
        assert await sweep_sla(factory=server.ctx.factory, settings=settings) == 0  # resolved: nothing to announce
    finally:
        await server.stop()


async def test_conversation_clock_starts_pauses_stops_and_asks_csat(db_url: str, tmp_path: Path) -> None:
    t0 = datetime(2026, 3, 2, 9, 0)
    settings = sla_settings(db_url, tmp_path / "data")  # first response normal: 240 min; next: 240
    at(t0)
    server = await start_server(settings)
    try:
        demo = await make_org(server.ctx.factory)
        customer, conversation = await make_customer(server.ctx.factory, demo.org.id)
        async with transaction(server.ctx.factory) as session:
            conv = await session.get(Conversation, conversation.id)
            assert conv is not None
            touch_inbound(conv, "hello?")
        await sweep_sla(factory=server.ctx.factory, settings=settings)
        async with server.ctx.factory() as session:
            clock_row = await session.scalar(select(ConversationClock))
        assert clock_row is not None and clock_row.kind == "first" and clock_row.due_at == t0 + timedelta(minutes=240)

        at(t0 + timedelta(minutes=100))
        async with transaction(server.ctx.factory) as session:
            conv = await session.get(Conversation, conversation.id)
            assert conv is not None
            await set_status(session=session, conversation=conv, status="pending")
        await sweep_sla(factory=server.ctx.factory, settings=settings)
        at(t0 + timedelta(minutes=400))  # paused: no push although 400 minutes passed
        assert await sweep_sla(factory=server.ctx.factory, settings=settings) == 0
        async with transaction(server.ctx.factory) as session:
            conv = await session.get(Conversation, conversation.id)
            assert conv is not None
            await set_status(session=session, conversation=conv, status="open")
        await sweep_sla(factory=server.ctx.factory, settings=settings)  # resumes: 140 minutes left
        at(t0 + timedelta(minutes=493))  # 100 used before the pause + 93 after: 193 of 240, at risk
        assert await sweep_sla(factory=server.ctx.factory, settings=settings) == 1
        at(t0 + timedelta(minutes=541))
        assert await sweep_sla(factory=server.ctx.factory, settings=settings) == 1
        assert await sweep_sla(factory=server.ctx.factory, settings=settings) == 0

        async with transaction(server.ctx.factory) as session:
            conv = await session.get(Conversation, conversation.id)
            assert conv is not None
            await reply_as_agent(session=session, conversation=conv, agent=demo.admin, text="Sorry for the wait")
        await sweep_sla(factory=server.ctx.factory, settings=settings)
        async with transaction(server.ctx.factory) as session:
            clock_row = await session.scalar(select(ConversationClock))
            assert clock_row is not None and clock_row.stopped_at == t0 + timedelta(minutes=541)
            assert clock_row.sla_met is False and clock_row.response_seconds == 541 * 60
            kinds = list(await session.scalars(select(NotificationEvent.kind).order_by(NotificationEvent.id)))
            assert kinds == ["sla_at_risk", "sla_breached"]
            conv = await session.get(Conversation, conversation.id)
            assert conv is not None
            await set_status(session=session, conversation=conv, status="resolved")
            assert await ask_conversation_csat(session=session, conversation=conv)
            ask = await session.scalar(select(OutboxItem).order_by(OutboxItem.id.desc()).limit(1))
            assert ask is not None and ["★★", f"csat:conversation:{conv.id}:2"] in ask.payload["buttons"]
            answer = await record_csat(session=session, org_id=demo.org.id, customer_id=customer.id,
                                       subject_type="conversation", subject_id=conv.id, rating=2)
            assert answer.agent_id is None and answer.rating == 2
            with pytest.raises(Conflict):
                await record_csat(session=session, org_id=demo.org.id, customer_id=customer.id,
                                  subject_type="conversation", subject_id=conv.id, rating=5)
            with pytest.raises(Forbidden):
                await record_csat(session=session, org_id=demo.org.id, customer_id=customer.id + 1,
                                  subject_type="conversation", subject_id=conv.id, rating=5)
            assert not await ask_conversation_csat(session=session, conversation=conv)  # rated: not asked again
            assert (await session.scalar(select(func.count()).select_from(Message)) or 0) >= 2
    finally:
        await server.stop()


async def test_incremental_sweep_and_status_changes_synced_at_once(db_url: str, tmp_path: Path) -> None:
    t0 = datetime(2026, 3, 2, 9, 0)
    settings = sla_settings(db_url, tmp_path / "data", sweep_seconds=30)
    server = await start_server(settings)
    try:
        demo = await make_org(server.ctx.factory)
        _, old = await make_customer(server.ctx.factory, demo.org.id, external_id="old")
        _, new = await make_customer(server.ctx.factory, demo.org.id, external_id="new")
        at(t0 - timedelta(days=1))
        async with transaction(server.ctx.factory) as session:
            conv = await session.get(Conversation, old.id)
            assert conv is not None
            touch_inbound(conv, "waiting since yesterday")
        at(t0)
        async with transaction(server.ctx.factory) as session:
            conv = await session.get(Conversation, new.id)
            assert conv is not None
            touch_inbound(conv, "hello")
        await sweep_sla(factory=server.ctx.factory, settings=settings, full=False)
        async with server.ctx.factory() as session:
            started = set(await session.scalars(select(ConversationClock.conversation_id)))
        assert started == {new.id}  # the incremental pass looks at recent activity only
        await sweep_sla(factory=server.ctx.factory, settings=settings, full=True)
        async with server.ctx.factory() as session:
            started = set(await session.scalars(select(ConversationClock.conversation_id)))
        assert started == {new.id, old.id}

        at(t0 + timedelta(minutes=50))
        async with transaction(server.ctx.factory) as session:
            conv = await session.get(Conversation, new.id)
            assert conv is not None
            await set_status(session=session, conversation=conv, status="pending")
            await sync_conversation_clock(session=session, settings=settings, conversation=conv, stamp=clock.now())
            row = await session.scalar(select(ConversationClock).where(ConversationClock.conversation_id == new.id))
            assert row is not None and row.paused_at == t0 + timedelta(minutes=50) and row.remaining_seconds == 190 * 60
        at(t0 + timedelta(hours=5))  # long after the incremental window: the pause held without any sweep
        assert await sweep_sla(factory=server.ctx.factory, settings=settings, full=False) == 0
        async with transaction(server.ctx.factory) as session:
            conv = await session.get(Conversation, new.id)
            assert conv is not None
            await set_status(session=session, conversation=conv, status="open")
            await sync_conversation_clock(session=session, settings=settings, conversation=conv, stamp=clock.now())
            row = await session.scalar(select(ConversationClock).where(ConversationClock.conversation_id == new.id))
            assert row is not None and row.due_at == t0 + timedelta(hours=5, minutes=190)
    finally:
        await server.stop()


async def test_a_burst_of_new_conversations_gets_its_clocks_with_one_insert_per_transaction(db_url: str, tmp_path: Path) -> None:
    """The sweep writes a transaction's new clocks with one INSERT (the ORM's flush sent one per clock), and each
    clock is what the SLA rules make of it: a pending conversation's clock starts paused."""
    from sqlalchemy import event

    from bot.core.work_orders.clocks import BATCH

    settings = make_settings(db_url, tmp_path / "data", sla={"sweep_seconds": 3600})  # only this test's sweep runs
    at(datetime(2026, 3, 2, 9, 0))
    server = await start_server(settings)
    try:
        demo = await make_org(server.ctx.factory)
        ids = []
        for n in range(BATCH + 20):
            _customer, conversation = await make_customer(server.ctx.factory, demo.org.id, external_id=f"c{n}")
            ids.append(conversation.id)
        async with transaction(server.ctx.factory) as session:
            for conversation in (await session.scalars(select(Conversation).where(Conversation.id.in_(ids)))).all():
                touch_inbound(conversation, "hello")
                if conversation.id == ids[0]:
                    conversation.status = "pending"
        inserts: list[int] = []
        spans: list[list[float]] = []  # each transaction's [begin, commit] on the monotonic clock
        clocks_in: list[int] = []  # the transactions that wrote clocks

        def count(conn: Any, _cursor: object, sql: str, params: object, *_: object) -> None:
            if sql.lstrip().upper().startswith("INSERT INTO CONVERSATION_CLOCKS"):
                inserts.append(len(params) if isinstance(params, list) else 1)
                clocks_in.append(spans.index(conn.info["span"]))

        def begun(conn: Any) -> None:  # per connection: other tasks' transactions may overlap the sweep's
            conn.info["span"] = [time.monotonic()]
            spans.append(conn.info["span"])

        def committed(conn: Any) -> None:
            conn.info["span"].append(time.monotonic())

        engine = server.ctx.engine.sync_engine
        hooks = (("before_cursor_execute", count), ("begin", begun), ("commit", committed))
        for name, hook in hooks:
            event.listen(engine, name, hook)
        try:
            await sweep_sla(factory=server.ctx.factory, settings=settings, full=True)
        finally:
            for name, hook in hooks:
                event.remove(engine, name, hook)
        assert len(inserts) == 2, inserts  # BATCH clocks, then the 20 left
        # between the two clock transactions the sweep rested at least as long as the first took (live traffic's turn)
        first, second = (spans[n] for n in clocks_in)
        assert second[0] - first[1] >= (first[1] - first[0]) * 0.9, (spans, clocks_in)
        async with server.ctx.factory() as session:
            clocks = {c.conversation_id: c for c in (await session.scalars(select(ConversationClock))).all()}
        assert sorted(clocks) == sorted(ids)
        paused, running = clocks[ids[0]], clocks[ids[1]]
        assert paused.kind == running.kind == "first" and paused.priority == running.priority == "normal"
        assert paused.paused_at is not None and paused.due_at is None and paused.remaining_seconds
        assert running.paused_at is None and running.due_at is not None and running.target_minutes > 0
        assert running.risk_notified is False and running.breach_notified is False and running.next_alert_at is not None
    finally:
        await server.stop()


async def test_a_sweep_pass_catching_up_with_a_burst_reads_each_waiting_conversation_about_once(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each transaction of a pass goes on where the one before stopped: the one that starts the last clocks reads
    about as much as the first (SQLite's own count of the work each statement did), where each read again every
    conversation the ones before had given a clock. And the running clocks are read for changes once a pass, not
    once per transaction."""
    import sqlite3

    from sqlalchemy import event

    from bot.core.work_orders.clocks import BATCH

    steps: dict[int, list[int]] = {}  # sqlite3 connection -> [progress callbacks]: work done on it
    real_connect = sqlite3.connect

    def counted_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:  # runs in the connection's own thread
        conn: sqlite3.Connection = real_connect(*args, **kwargs)
        counter = steps.setdefault(id(conn), [0])

        def tick() -> int:
            counter[0] += 1
            return 0

        conn.set_progress_handler(tick, 50)
        return conn

    monkeypatch.setattr(sqlite3, "connect", counted_connect)
    settings = make_settings(sqlite_url, tmp_path / "data", sla={"sweep_seconds": 3600})  # only this test's sweep runs
    at(datetime(2026, 3, 2, 9, 0))
    server = await start_server(settings)
    try:
        demo = await make_org(server.ctx.factory)
        customer, first = await make_customer(server.ctx.factory, demo.org.id)
        stamp = clock.now()
        async with transaction(server.ctx.factory) as session:
            session.add_all([
                Conversation(org_id=demo.org.id, customer_id=customer.id, identity_id=first.identity_id, channel="webchat",
                             status="open", waiting_since=stamp - timedelta(seconds=n), last_activity_at=stamp - timedelta(seconds=n))
                for n in range(3 * BATCH + 20)
            ])
        starts: list[int] = []  # work per start_new_clocks query
        follows: list[int] = []

        def sqlite_conn(conn: Any) -> int:
            return id(conn.connection.dbapi_connection.driver_connection._conn)

        def before(conn: Any, _cursor: object, sql: str, *_: object) -> None:
            conn.info["steps_at"] = steps.get(sqlite_conn(conn), [0])[0]

        def after(conn: Any, _cursor: object, sql: str, *_: object) -> None:
            work = steps.get(sqlite_conn(conn), [0])[0] - conn.info.pop("steps_at", 0)
            if sql.startswith("SELECT conversations.id, conversations.waiting_since"):
                starts.append(work)
            elif "FROM conversation_clocks JOIN conversations" in sql:
                follows.append(work)

        engine = server.ctx.engine.sync_engine
        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        try:
            await sweep_sla(factory=server.ctx.factory, settings=settings, full=True)
        finally:
            event.remove(engine, "before_cursor_execute", before)
            event.remove(engine, "after_cursor_execute", after)
        async with server.ctx.factory() as session:
            assert await session.scalar(select(func.count()).select_from(ConversationClock)) == 3 * BATCH + 20
        assert len(starts) >= 4 and starts[0] > 0, starts
        assert max(starts) < 2 * starts[0], f"later transactions read again what earlier ones clocked: {starts}"
        assert len(follows) == 1, follows
    finally:
        await server.stop()
