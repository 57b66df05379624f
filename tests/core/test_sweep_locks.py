"""Sweeps run in one process at a time: PostgreSQL advisory lock, Redis lock; no lock needed on SQLite."""

from __future__ import annotations

import asyncio
import os
import secrets

import pytest

from bot.core.common.scheduler import Scheduler
from bot.core.common.sweep_lock import NoLock, PostgresAdvisoryLock, RedisLock, make_sweep_lock
from bot.core.storage.db import create_engine
from tests.utils.db import PG_URL

REDIS_URL = os.environ.get("INCS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


async def _only_one_runs(first: Scheduler, second: Scheduler) -> None:
    """While the first process's sweep is running, the second's run of the same sweep is skipped; afterwards it runs."""
    inside, release = asyncio.Event(), asyncio.Event()
    runs: list[str] = []

    async def slow() -> None:
        runs.append("first")
        inside.set()
        await release.wait()

    async def quick() -> None:
        runs.append("second")

    holder: asyncio.Future[None] = asyncio.ensure_future(first.guarded("notifications.waiting", slow)())
    await inside.wait()
    await second.guarded("notifications.waiting", quick)()
    assert runs == ["first"] and second.skipped == {"notifications.waiting": 1}
    await second.guarded("notifications.failing", quick)()  # another sweep is not held up
    assert runs == ["first", "second"]
    release.set()
    await holder
    await second.guarded("notifications.waiting", quick)()
    assert runs == ["first", "second", "second"]


async def test_redis_lock_lets_one_process_run_a_sweep_at_a_time() -> None:
    namespace = f"t{secrets.token_hex(4)}"
    a, b = RedisLock(REDIS_URL, namespace), RedisLock(REDIS_URL, namespace)
    try:
        await _only_one_runs(Scheduler(a), Scheduler(b))
    finally:
        await a.close()
        await b.close()


@pytest.mark.skipif(not PG_URL, reason="needs INCS_TEST_DATABASE_URL (PostgreSQL)")
async def test_postgres_advisory_lock_lets_one_process_run_a_sweep_at_a_time() -> None:
    engines = [create_engine(PG_URL), create_engine(PG_URL)]
    try:
        locks = [make_sweep_lock(engine=e, database_url=PG_URL, redis_url=REDIS_URL, namespace="x") for e in engines]
        assert all(isinstance(lock, PostgresAdvisoryLock) for lock in locks)  # the database's own lock is preferred
        await _only_one_runs(Scheduler(locks[0]), Scheduler(locks[1]))
    finally:
        for engine in engines:
            await engine.dispose()


async def test_sqlite_needs_no_lock_and_a_failing_sweep_is_logged_not_raised(sqlite_url: str, caplog: pytest.LogCaptureFixture) -> None:
    engine = create_engine(sqlite_url)
    try:
        lock = make_sweep_lock(engine=engine, database_url=sqlite_url, redis_url="", namespace="x")
        assert isinstance(lock, NoLock)

        async def broken() -> None:
            raise RuntimeError("boom")

        await Scheduler(lock).guarded("broken", broken)()
        assert "scheduled job broken failed" in caplog.text
    finally:
        await engine.dispose()
