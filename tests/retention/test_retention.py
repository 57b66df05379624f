"""Retention: with the clock past each period, expired rows and files go and younger ones stay; the dry run
reports what the run removes; audit segments are archived and the chain still verifies; one process runs it."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.common import clock
from bot.core.common.scheduler import Scheduler
from bot.core.common.sweep_lock import PostgresAdvisoryLock
from bot.core.orgs.audit import record, verify_chain
from bot.core.orgs.audit_archive import chains, verify_archives
from bot.core.orgs.models import AuditArchive, AuditEvent
from bot.core.retention.purge import RUN_ACTION, Pacer, run
from bot.core.retention.rules import CATEGORIES, table
from bot.core.retention.sweeps import JOB, run_if_due
from bot.core.storage.db import SessionFactory, create_engine, session_factory, transaction, write_turn
from tests.bench.common import connect_sqlite
from tests.retention.seed import CONFIG, MOMENT, Seeded, seed, young
from tests.utils.db import PG_URL
from tests.utils.factories import make_org


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    yield engine
    await engine.dispose()


async def _ids(factory: SessionFactory, name: str, ids: list[int]) -> list[int]:
    t = table(name)
    assert t is not None
    async with factory() as session:
        return sorted(int(i) for i in (await session.scalars(select(t.c.id).where(t.c.id.in_(ids)))).all())


async def _audit_ok(factory: SessionFactory, data_dir: Path) -> None:
    async with factory() as session:
        for org_id in await chains(factory=factory):
            _, problem = await verify_archives(session=session, data_dir=data_dir, org_id=org_id)
            report = await verify_chain(session=session, org_id=org_id)
            assert problem == "" and report.ok, (org_id, problem, report)


TABLE_OF = {"conversations": "conversations", **{c.name: c.table for c in CATEGORIES}}


async def test_expired_rows_and_files_go_younger_stay_and_the_dry_run_agrees(engine: AsyncEngine, tmp_path: Path) -> None:
    factory = session_factory(engine)
    s: Seeded = await seed(factory, tmp_path)
    async with factory() as session:
        old_audit = int(await session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.created_at < young(CONFIG.audit_days))) or 0)

    dry = await run(factory=factory, config=CONFIG, data_dir=tmp_path, dry_run=True)
    assert all(path.exists() for path in s.old_files)  # a dry run changes nothing
    real = await run(factory=factory, config=CONFIG, data_dir=tmp_path)
    assert dry.counts == real.counts
    expected = {name: len(ids) for name, ids in s.old.items()} | {"files": 1, "audit": old_audit}
    assert real.counts == expected

    for name, ids in s.old.items():
        assert await _ids(factory, TABLE_OF[name], ids) == [], name
    for name, ids in s.kept.items():
        assert await _ids(factory, TABLE_OF[name], ids) == sorted(ids), name
    assert not any(p.exists() for p in s.old_files) and all(p.exists() for p in s.young_files)
    for name in ("telegram_topic_messages", "work_order_events", "rights_request_events"):
        t = table(name)
        assert t is not None
        async with factory() as session:
            assert await session.scalar(select(func.count()).select_from(t)) == 0, name

    # audit: the old segment went to a 0600 file, the rest verifies, `incs audit verify` would pass
    async with factory() as session:
        assert await session.scalar(select(func.min(AuditEvent.created_at)).where(
            AuditEvent.action != RUN_ACTION)) == young(CONFIG.audit_days)
        archives = (await session.scalars(select(AuditArchive))).all()
    assert archives and all(stat.S_IMODE(os.stat(tmp_path / a.path).st_mode) == 0o600 for a in archives)
    assert {a.org_id for a in archives} == {None, s.org_id}  # the platform chain was archived whole: the run's event continues it
    assert b"view_customer" in (tmp_path / archives[-1].path).read_bytes()
    await _audit_ok(factory, tmp_path)
    async with transaction(factory) as session:  # the chain goes on after the purge
        await record(session=session, org_id=s.org_id, actor_type="agent", actor_id=1, action="after_purge")
    await _audit_ok(factory, tmp_path)

    # the counts are in the audit log; a second run at the same moment finds nothing
    async with factory() as session:
        logged = await session.scalar(select(AuditEvent).where(AuditEvent.action == RUN_ACTION))
    assert logged is not None and logged.detail["removed"] == expected
    again = await run(factory=factory, config=CONFIG, data_dir=tmp_path, dry_run=True)
    assert again.total == 0


async def test_only_archived_audit_rows_can_be_deleted(engine: AsyncEngine, tmp_path: Path) -> None:
    factory = session_factory(engine)
    s = await seed(factory, tmp_path)
    async with factory() as session:
        newest = await session.scalar(select(func.max(AuditEvent.id)).where(AuditEvent.org_id == s.org_id))
    with pytest.raises(Exception, match="append-only"):
        async with transaction(factory) as session:
            await session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": newest})
    await run(factory=factory, config=CONFIG, data_dir=tmp_path)
    with pytest.raises(Exception, match="append-only"):
        async with transaction(factory) as session:
            await session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": newest})


async def test_an_altered_archive_file_fails_verification(engine: AsyncEngine, tmp_path: Path) -> None:
    factory = session_factory(engine)
    s = await seed(factory, tmp_path)
    await run(factory=factory, config=CONFIG, data_dir=tmp_path)
    async with factory() as session:
        archive = await session.scalar(select(AuditArchive).where(AuditArchive.org_id == s.org_id))
    assert archive is not None
    path = tmp_path / archive.path
    path.write_bytes(path.read_bytes().replace(b"view_customer", b"view_customeR", 1))
    async with factory() as session:
        _, problem = await verify_archives(session=session, data_dir=tmp_path, org_id=s.org_id)
    assert "altered" in problem


async def test_batches_let_other_writers_in_between(sqlite_url: str, tmp_path: Path) -> None:
    """Each batch is its own short write turn: an urgent writer (the ingest writer's kind) gets the writer while the
    run is half-way through the messages, not only after the whole run."""
    engine = create_engine(sqlite_url)
    factory = session_factory(engine)
    try:
        s = await seed(factory, tmp_path)
        old = s.old["messages"]
        purge = asyncio.create_task(run(factory=factory, config=CONFIG.model_copy(update={"batch_size": 1}), data_dir=tmp_path))
        seen: set[int] = set()
        while not purge.done():
            async with write_turn(factory, urgent=True):
                seen.add(len(await _ids(factory, "messages", old)))
            await asyncio.sleep(0)
        await purge
        assert any(0 < left < len(old) for left in seen), seen  # the writer was had between two batches of messages
    finally:
        await engine.dispose()


async def test_the_nightly_job_runs_once_a_day_and_catches_up(engine: AsyncEngine, tmp_path: Path) -> None:
    factory = session_factory(engine)
    await seed(factory, tmp_path)
    config = CONFIG.model_copy(update={"run_at": "04:15"})
    assert await run_if_due(factory=factory, config=config, data_dir=tmp_path) is not None  # missed: runs at once
    assert await run_if_due(factory=factory, config=config, data_dir=tmp_path) is None  # done for today
    clock.set_clock(lambda: MOMENT.replace(hour=23))
    assert await run_if_due(factory=factory, config=config, data_dir=tmp_path) is None
    clock.set_clock(lambda: MOMENT.replace(hour=4, minute=16) + timedelta(days=1))
    assert await run_if_due(factory=factory, config=config, data_dir=tmp_path) is not None


@pytest.mark.skipif(not PG_URL, reason="needs INCS_TEST_DATABASE_URL (PostgreSQL)")
async def test_one_process_runs_retention_on_postgresql(tmp_path: Path) -> None:
    from tests.utils.db import postgres_db

    url = await postgres_db()
    engines = [create_engine(url), create_engine(url)]
    try:
        factory = session_factory(engines[0])
        await seed(factory, tmp_path)
        first, second = (Scheduler(PostgresAdvisoryLock(e)) for e in engines)
        job = second.guarded(JOB, lambda: run_if_due(factory=session_factory(engines[1]), config=CONFIG, data_dir=tmp_path))
        async with first.lock.hold(JOB) as mine:  # process A is running retention
            assert mine
            await job()
            assert second.skipped == {JOB: 1}
        await job()  # A finished: B runs it
        async with factory() as session:
            runs = await session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == RUN_ACTION))
        assert runs == 1 and second.skipped == {JOB: 1}
    finally:
        for e in engines:
            await e.dispose()


def test_batches_shrink_when_slow_and_grow_back_when_quick() -> None:
    pacer = Pacer(batch_size=500, target_ms=20)
    assert pacer.size == 50
    pacer.took(0.080)
    pacer.took(0.080)
    assert pacer.size == 12  # a big table or a loaded machine: fewer rows per turn of the writer
    for _ in range(40):
        pacer.took(0.002)
    assert pacer.size == 500  # never above retention.batch_size
    pacer.took(0.015)
    assert pacer.size == 500  # near the target: unchanged


async def test_the_run_moves_its_wal_pages_into_the_database_batch_by_batch(sqlite_url: str, tmp_path: Path) -> None:
    """A purge's writes are checkpointed as it goes, a batch at a time: the WAL never holds much more than a batch. Left
    to the once-a-second checkpoint, a second of purging was synced at once, and a chat message's commit waited behind
    that fsync (acks of 144-200 ms during the run, bench_retention)."""
    database = Path(sqlite_url.split("///", 1)[1])
    engine = create_engine(sqlite_url)
    org = (await make_org(session_factory(engine), slug="wal")).org.id
    await engine.dispose()
    db = connect_sqlite(database)
    stamp = (MOMENT - timedelta(days=1000)).replace(tzinfo=None).isoformat(sep=" ")
    db.execute("INSERT INTO customers (id, org_id, name, locale, status, first_seen_at, last_seen_at)"
               " VALUES (900, ?, 'c', 'en', 'active', ?, ?)", (org, stamp, stamp))
    db.execute("INSERT INTO channel_identities (id, org_id, customer_id, channel, external_id, display_name, reachable, flow_state,"
               " created_at, last_seen_at) VALUES (900, ?, 900, 'webchat', 'wal', '', 1, '{}', ?, ?)", (org, stamp, stamp))
    db.execute("INSERT INTO conversations (id, org_id, customer_id, identity_id, channel, status, unread_count,"
               " last_message_preview, created_at, last_activity_at) VALUES (900, ?, 900, 900, 'webchat', 'resolved', 0, '', ?, ?)",
               (org, stamp, stamp))
    db.executemany("INSERT INTO messages (org_id, conversation_id, identity_id, direction, author_type, kind, text, delivery_state,"
                   " edited, created_at) VALUES (?, 900, 900, 'in', 'customer', 'text', ?, 'received', 0, ?)",
                   [(org, f"message {n}: where is my order, and why is it late again " * 4, stamp) for n in range(12000)])
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    engine = create_engine(sqlite_url)
    try:
        report = await run(factory=session_factory(engine), config=CONFIG.model_copy(update={"batch_size": 200}),
                           data_dir=tmp_path, moment=MOMENT)
        pages = Path(f"{database}-wal").stat().st_size // 4096  # read before the last connection closes (and removes it)
    finally:
        await engine.dispose()
    assert report.counts["messages"] == 12000
    # the 12,000 deletions (60 batches) wrote about 3,300 pages; the WAL file (never truncated: its size is the most it
    # held at once) stays at a few batches' worth (about 470 pages)
    assert pages < 1000, f"the WAL grew to {pages} pages"
